"""OpenAI's embeddings API, `POST /v1/embeddings`: request, answer (float or base64) and errors.

The `openai` SDK sends `encoding_format: "base64"` unless told otherwise and decodes each
embedding with `np.frombuffer(base64.b64decode(data), dtype="float32")` (or `array("f")`
without numpy): little-endian float32 bytes, the byte order of every machine it runs on. Its
errors are read from `{"error": {"message", "type", "param", "code"}}`, the exception class from
the status alone (400 BadRequestError, 401 AuthenticationError, 404 NotFoundError, 429
RateLimitError, 5xx InternalServerError); it retries 429 and 5xx, honouring `Retry-After`.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vectorizer.config import FeatureParameters, ModuleOptions
from vectorizer.errors import VectorizerError
from vectorizer.protocols.embedding_call import (
    DEFAULT_LOADING_SECONDS,
    DEFAULT_RATE_LIMIT_SECONDS,
    EmbeddingCall,
    EmbeddingResult,
    ProtocolAnswer,
    describe_validation,
    retry_after_header,
    safe_message,
    target_for,
    text_input,
)
from vectorizer.settings import Settings

EncodingFormat = Literal["float", "base64"]

# Words and single punctuation marks: the pieces a BERT-style pre-tokenizer splits text into.
_PIECES = re.compile(r"\w+|[^\w\s]")


class InvalidRequest(VectorizerError):
    """A request OpenAI's API would refuse; `param` names the field, as OpenAI's errors do."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class OpenAIEmbeddingsRequest(BaseModel):
    """`POST /v1/embeddings` as OpenAI's SDK sends it; keys this service does not use are ignored."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str] = Field(description="a text or a list of texts (token-id arrays are refused)")
    # OpenAI requires it; here it names the Hugging Face model, and DEFAULT_MODEL stands in if absent.
    model: str | None = Field(None, description="the Hugging Face model id, e.g. 'owner/name'")
    encoding_format: EncodingFormat = "float"
    dimensions: int | None = Field(None, ge=1, description="keep the first N dimensions, re-normalised")
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _texts_only(cls, value: Any) -> Any:
        return text_input(value, "input", allow_empty_text=False)

    @property
    def texts(self) -> list[str]:
        """The input as a list of texts, one for a bare string."""
        return [self.input] if isinstance(self.input, str) else list(self.input)


class OpenAIEmbedding(BaseModel):
    """One vector of the answer: floats, or base64 float32 bytes, at its input's `index`."""

    object: Literal["embedding"] = "embedding"
    embedding: list[float] | str
    index: int


class OpenAIUsage(BaseModel):
    """The answer's token counts (an estimate: see `approximate_tokens`)."""

    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingsResponse(BaseModel):
    """The 200 answer: `{"object": "list", "data": [...], "model", "usage"}`."""

    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


class OpenAIErrorDetail(BaseModel):
    """OpenAI's error fields: `message`, `type`, `param` (the field at fault) and `code`."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    """An error answer: `{"error": {...}}`."""

    error: OpenAIErrorDetail


def parse_request(raw: str | None) -> OpenAIEmbeddingsRequest:
    """Takes the raw body (None for none); returns the request, or raises InvalidRequest naming the field."""
    try:
        decoded = json.loads(raw or "")
    except ValueError:
        raise InvalidRequest("We could not parse the JSON body of your request: it is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise InvalidRequest("the request body must be a JSON object with 'input' and 'model'")
    try:
        return OpenAIEmbeddingsRequest.model_validate(decoded)
    except ValidationError as error:
        message, field = describe_validation(error)
        raise InvalidRequest(message, param=field) from None


def build_call(request: OpenAIEmbeddingsRequest, settings: Settings) -> EmbeddingCall:
    """The protocol-neutral call for a request: its model (else DEFAULT_MODEL), texts and dimensions."""
    target = target_for(request.model or settings.default_model, ModuleOptions(), FeatureParameters(), settings)
    return EmbeddingCall(texts=request.texts, target=target, dimensions=request.dimensions)


def encode_base64(vector: list[float]) -> str:
    """A vector as base64 of little-endian float32 bytes: what the SDK decodes with `np.frombuffer`."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def approximate_tokens(text: str) -> int:
    """An honest estimate of the model's token count, not the count itself.

    The model's own tokenizer is not here (HF does not report it), so this counts words and
    punctuation marks, as a BERT-style pre-tokenizer splits them. Word-piece models split rare
    words further, so the true count is this or more (plus the model's special tokens).
    Takes one text; returns the estimate.
    """
    return len(_PIECES.findall(text))


def answer(result: EmbeddingResult, request: OpenAIEmbeddingsRequest) -> ProtocolAnswer:
    """The 200 answer for a result, in the request's `encoding_format`, with estimated usage."""
    tokens = sum(approximate_tokens(text) for text in request.texts)
    encode = encode_base64 if request.encoding_format == "base64" else (lambda vector: vector)
    response = OpenAIEmbeddingsResponse(
        data=[OpenAIEmbedding(embedding=encode(vector), index=index) for index, vector in enumerate(result.vectors)],
        model=result.model,
        usage=OpenAIUsage(prompt_tokens=tokens, total_tokens=tokens),
    )
    return ProtocolAnswer(status=200, body=response.model_dump(mode="json"))


# Our error codes that concern one request field, named as OpenAI's `param`.
_PARAM_OF_CODE = {
    "invalid_model": "model",
    "hf_model_not_found": "model",
    "dimensions_too_large": "dimensions",
    "payload_too_large": "input",
    "answer_too_large": "input",
    "hf_input_rejected": "input",
}


def error_answer(error: VectorizerError, token: str | None = None) -> ProtocolAnswer:
    """OpenAI's error body, with the status its SDK maps to the right exception.

    Takes the error and the token to redact from its message; returns status, body and headers.
    """
    status = error.status
    kind = "invalid_request_error"
    code: str | None = error.code
    headers: dict[str, str] = {}
    wait = getattr(error, "retry_after", None)
    param = getattr(error, "param", None) or _PARAM_OF_CODE.get(error.code)
    if error.code == "invalid_request":
        code = None  # OpenAI's schema refusals carry no code
    elif error.code == "hf_model_not_found":
        status, code = 404, "model_not_found"
    elif status == 401:
        code = "invalid_api_key"
    elif status == 429:
        kind, code = "requests", "rate_limit_exceeded"
        headers["Retry-After"] = retry_after_header(wait if wait is not None else DEFAULT_RATE_LIMIT_SECONDS)
    elif error.code == "hf_model_loading":
        status, kind, code = 503, "server_error", "model_loading"
        headers["Retry-After"] = retry_after_header(wait if wait is not None else DEFAULT_LOADING_SECONDS)
    elif status >= 500:
        status = 502 if status == 503 else status  # 503 means "loading" only
        kind = "server_error"
    detail = OpenAIErrorDetail(message=safe_message(error.message, token), type=kind, param=param, code=code)
    body = OpenAIErrorResponse(error=detail)
    return ProtocolAnswer(status=status, body=body.model_dump(mode="json"), headers=headers)
