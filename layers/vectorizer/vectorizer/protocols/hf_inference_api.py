"""The Hugging Face feature-extraction protocol and TEI's `/embed`: requests in, answers and errors out.

What the clients send (checked against their sources):
- `huggingface_hub.InferenceClient.feature_extraction`: `{"inputs": text, "normalize": ..., ...}`
  with the parameters at the root, `Authorization: Bearer`;
- langchain-community's `HuggingFaceInferenceAPIEmbeddings`: `{"inputs": [...], "options":
  {"wait_for_model": true, "use_cache": true}}` to `/pipeline/feature-extraction/{model}`;
- Weaviate's `text2vec-huggingface` (endpointURL): `{"inputs": [...], "options": {...}}` with
  false options left out, and `x-wait-for-model` / `x-use-cache` headers;
- older HF clients put the parameters under `parameters`.
So both places are read (the root wins), unknown keys are ignored as HF ignores them, and the
answer is HF's: a bare 2-D array of floats, 1-D for a bare string. `/embed` answers as TEI does:
always 2-D, `normalize` true unless asked otherwise, errors with an `error_type`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vectorizer.config import FeatureParameters, ModuleOptions, TruncationDirection
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

Flavor = Literal["hf", "tei"]
# TEI's ErrorType names (text-embeddings-inference router), which its clients know.
TeiErrorType = Literal["Unhealthy", "Backend", "Overloaded", "Validation", "Tokenizer", "Empty"]


class InvalidBody(VectorizerError):
    """The body is not JSON, or not a feature-extraction request."""

    status = 400
    code = "invalid_body"


class EmptyInput(VectorizerError):
    """`inputs` is an empty list: 400 `empty_input` (TEI calls it `Empty`)."""

    status = 400
    code = "empty_input"


class HFErrorBody(BaseModel):
    """An HF error answer: `{"error": ...}`, plus `estimated_time` while the model loads."""

    error: str = Field(description="what went wrong, for a person (HF's own words when HF refused)")
    estimated_time: float | None = Field(None, description="503 only: seconds until the model is loaded")


class TEIErrorBody(HFErrorBody):
    """A TEI error answer: HF's, plus the `error_type` TEI's clients switch on."""

    error_type: TeiErrorType


class HFParameters(BaseModel):
    """The feature-extraction parameters, at the root of the body or under `parameters`."""

    model_config = ConfigDict(extra="ignore")

    normalize: bool | None = None
    truncate: bool | None = None
    truncation_direction: TruncationDirection | None = None
    prompt_name: str | None = None
    dimensions: int | None = Field(None, ge=1, description="keep the first N dimensions, re-normalised")

    @field_validator("truncation_direction", mode="before")
    @classmethod
    def _either_case(cls, value: Any) -> Any:
        # huggingface_hub sends "left"/"right", TEI's schema says "Left"/"Right": take both.
        return value.capitalize() if isinstance(value, str) else value


class HFOptions(BaseModel):
    """The body's `options` (`wait_for_model`, `use_cache`, `use_gpu`); None where not sent."""

    model_config = ConfigDict(extra="ignore")

    wait_for_model: bool | None = None
    use_cache: bool | None = None
    use_gpu: bool | None = None


class HFRequest(HFParameters):
    """A feature-extraction request as any HF or TEI client sends it."""

    inputs: str | list[str] = Field(description="a text, or a list of texts")
    parameters: HFParameters | None = None
    options: HFOptions | None = None

    @field_validator("inputs", mode="before")
    @classmethod
    def _texts_only(cls, value: Any) -> Any:
        return text_input(value, "inputs")

    @property
    def single(self) -> bool:
        """True when `inputs` is one bare string (HF then answers one 1-D vector)."""
        return isinstance(self.inputs, str)

    @property
    def texts(self) -> list[str]:
        """The inputs as a list of texts, one for a bare string."""
        return [self.inputs] if isinstance(self.inputs, str) else list(self.inputs)

    def merged_parameters(self) -> HFParameters:
        """The parameters to use: root-level values win over those under `parameters`, field by field."""
        nested = self.parameters or HFParameters()
        return HFParameters.model_validate({
            name: getattr(self, name) if getattr(self, name) is not None else getattr(nested, name)
            for name in HFParameters.model_fields
        })


def parse_request(raw: str | None) -> HFRequest:
    """Takes the raw body (None for none); returns the request.

    Raises `InvalidBody` / `EmptyInput` with a message that names the bad field.
    """
    try:
        decoded = json.loads(raw or "")
    except ValueError:
        raise InvalidBody("the request body is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise InvalidBody("the request body must be a JSON object with 'inputs'")
    if decoded.get("inputs") == []:
        raise EmptyInput("'inputs' cannot be empty")
    try:
        return HFRequest.model_validate(decoded)
    except ValidationError as error:
        message, _ = describe_validation(error)
        raise InvalidBody(message) from None


def header_flag(value: str | None) -> bool | None:
    """Reads `x-wait-for-model` / `x-use-cache`: `true` or `1` is True, `false` or `0` False, else None."""
    text = (value or "").strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    return None


def _first_set(*values: bool | None, default: bool) -> bool:
    return next((value for value in values if value is not None), default)


def build_call(
    request: HFRequest, model: str, headers: Mapping[str, str], settings: Settings, flavor: Flavor
) -> EmbeddingCall:
    """The protocol-neutral call: the model's target, its options and parameters, and the texts.

    Takes the parsed request, the model named by the route, the request headers, the settings
    and the flavour (`hf` or `tei`, which normalises by default). Headers win over body options.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    options = request.options or HFOptions()
    parameters = request.merged_parameters()
    normalize = parameters.normalize
    if flavor == "tei" and normalize is None:
        normalize = True  # TEI's /embed normalises unless told not to
    target = target_for(
        model,
        # The module config's own names: its options refuse any other spelling.
        ModuleOptions.model_validate({
            # A header wins over the body: HF honours the header on routes that drop body options.
            "waitForModel": _first_set(header_flag(lowered.get("x-wait-for-model")), options.wait_for_model,
                                       default=False),
            "useCache": _first_set(header_flag(lowered.get("x-use-cache")), options.use_cache, default=True),
            "useGPU": _first_set(options.use_gpu, default=False),
        }),
        FeatureParameters(
            normalize=normalize,
            truncate=parameters.truncate,
            truncation_direction=parameters.truncation_direction,
            prompt_name=parameters.prompt_name,
        ),
        settings,
    )
    return EmbeddingCall(texts=request.texts, target=target, dimensions=parameters.dimensions)


def answer(result: EmbeddingResult, single: bool, flavor: Flavor) -> ProtocolAnswer:
    """The 200 answer for a result: HF's is 1-D for a bare string, else 2-D; TEI's always 2-D."""
    body = result.vectors[0] if single and flavor == "hf" else result.vectors
    return ProtocolAnswer(status=200, body=body)


def tei_error_type(status: int, code: str) -> TeiErrorType:
    """TEI's `error_type` for an answer's status and our error code."""
    if status == 503:
        return "Unhealthy"
    if status == 429:
        return "Overloaded"
    if code == "empty_input":
        return "Empty"
    return "Validation" if status < 500 else "Backend"


def error_answer(error: VectorizerError, flavor: Flavor, token: str | None = None) -> ProtocolAnswer:
    """`{"error": ...}` with HF's statuses; TEI adds `error_type`.

    503 means "the model is loading" and nothing else, with `estimated_time` and `Retry-After`;
    429 always carries `Retry-After`. A body that does not parse is TEI's 422 (its JSON extractor's
    status) and HF's 400. Takes the error, the flavour and the token to redact from the
    message; returns status, body and headers.
    """
    status = error.status
    headers: dict[str, str] = {}
    estimated = None
    wait = getattr(error, "retry_after", None)
    if error.code == "hf_model_loading":
        status = 503
        estimated = wait if wait is not None else DEFAULT_LOADING_SECONDS
        headers["Retry-After"] = retry_after_header(estimated)
    elif status == 503:
        status = 502
    if status == 429:
        headers["Retry-After"] = retry_after_header(wait if wait is not None else DEFAULT_RATE_LIMIT_SECONDS)
    if error.code == "hf_model_not_found":
        status = 404
    message = safe_message(error.message, token)
    body: HFErrorBody
    if flavor == "tei":
        if error.code == "invalid_body":
            status = 422
        body = TEIErrorBody(error=message, estimated_time=estimated, error_type=tei_error_type(status, error.code))
    else:
        body = HFErrorBody(error=message, estimated_time=estimated)
    return ProtocolAnswer(status=status, body=body.model_dump(mode="json", exclude_none=True), headers=headers)
