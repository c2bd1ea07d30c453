"""One embedding call, whatever protocol asked for it: texts and a target in, every vector out.

The HF, TEI and OpenAI routes each parse their own request shape into an `EmbeddingCall`, hand it
to `run_embedding_call`, and shape the `EmbeddingResult` (or the `VectorizerError` it raised) the
way their clients expect. The call goes through `HuggingFaceClient.embed`, the same path as an
inline `/vectorize`: batches of HF_BATCH_SIZE, HF_CONCURRENCY requests in flight, retries.

Unlike `/vectorize`, these protocols have no way to say "this one input has no vector": a request
with any failed input fails as a whole, with the error of the first input that failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vectorizer.api.answer_budget import (
    ANSWER_FRAME_BYTES,
    LAMBDA_RESPONSE_LIMIT,
    DimensionsMemory,
    base64_vector_bytes,
    envelope_bytes,
    expected_dimensions,
    json_vector_bytes,
)
from vectorizer.api.inline import embed_rest, probe_dimensions
from vectorizer.api.limits import check_limits
from vectorizer.config import FeatureParameters, ModuleConfig, ModuleOptions, Target, resolve_target
from vectorizer.credentials import DefaultToken, choose_token
from vectorizer.errors import (
    HuggingFaceError,
    InvalidConfigError,
    PayloadTooLargeError,
    VectorizerError,
)
from vectorizer.hf.client import HuggingFaceClient, redact
from vectorizer.hf.usage import HfUsage
from vectorizer.settings import Settings

# The wait to advise when HF gave none: its usual estimate for a cold model, and a short pause
# after a rate limit. Either only tells a client when to try again.
DEFAULT_LOADING_SECONDS = 20.0
DEFAULT_RATE_LIMIT_SECONDS = 5.0

# Lambda's synchronous response limit is 6 MB, the proxy envelope included: a bigger answer would
# reach the caller as API Gateway's bare 502, so it is refused with a reason instead.
MAX_ANSWER_BYTES = LAMBDA_RESPONSE_LIMIT
# What one input costs in an answer besides its vector (OpenAI's `{"object", "index", ...}`).
ITEM_FRAME_BYTES = 64


class EmbeddingCall(BaseModel):
    """A protocol-neutral request: what to embed, with which model, and how."""

    model_config = ConfigDict(frozen=True)

    texts: list[str] = Field(min_length=1)
    target: Target
    # Matryoshka-style shortening, done here after HF answers (see `shorten`).
    dimensions: int | None = Field(None, ge=1)
    # How the answer writes each vector: JSON numbers, or base64 of float32 (OpenAI's option).
    encoding: Literal["float", "base64"] = "float"

    def answer_bytes(self, model_dimensions: int) -> int:
        """The most the answer can take, in envelope bytes, if the model has `model_dimensions`."""
        width = min(model_dimensions, self.dimensions or model_dimensions)
        vector = base64_vector_bytes(width) if self.encoding == "base64" else json_vector_bytes(width)
        return ANSWER_FRAME_BYTES + len(self.texts) * (vector + ITEM_FRAME_BYTES)


class EmbeddingResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    vectors: list[list[float]]
    # What HF was asked for these vectors, for the handler's metrics; never part of an answer.
    hf_usage: HfUsage = Field(default_factory=HfUsage, exclude=True)

    @property
    def dimensions(self) -> int:
        """The width of the vectors, 0 when there are none."""
        return len(self.vectors[0]) if self.vectors else 0


class ProtocolAnswer(BaseModel):
    """An HTTP answer in a protocol's own shape; the route turns it into a proxy response."""

    status: int
    body: Any
    headers: dict[str, str] = Field(default_factory=dict)


class DimensionsError(VectorizerError):
    status = 400
    code = "dimensions_too_large"


def target_for(model: str, options: ModuleOptions, parameters: FeatureParameters, settings: Settings) -> Target:
    """The HF URL for a model named by a caller, checked with the same rules as a module config."""
    try:
        config = ModuleConfig(model=model, options=options)
    except ValidationError as error:
        # The rule's own words ("... is not a Hugging Face model id like 'owner/name'").
        message = error.errors()[0].get("msg", "invalid model")
        raise InvalidConfigError(message, code="invalid_model") from None
    return resolve_target(config, "passage", settings).model_copy(update={"parameters": parameters})


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; other schemes are not ours."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def token_for(
    api_key_header: str | None, authorization: str | None, default: DefaultToken, destination: str
) -> str:
    """The HF token for a call to `destination`: `X-Huggingface-Api-Key`, else `Authorization:
    Bearer`, else the default where `choose_token` lets it go.

    The explicit header wins: Weaviate turns it into its own `Authorization` when it calls an
    endpoint, so a request carrying both means the same token anyway. Raises 401 as `choose_token`.
    """
    own = (api_key_header or "").strip() or bearer_token(authorization)
    token, _ = choose_token(
        own, default, destination,
        how_to_send="as 'Authorization: Bearer <token>' or in the X-Huggingface-Api-Key header",
    )
    return token


def shorten(vectors: list[list[float]], dimensions: int | None) -> list[list[float]]:
    """Keep the first `dimensions` coordinates of each vector and scale it back to unit length.

    This is how Matryoshka-trained models (and OpenAI's `dimensions`) shorten embeddings; for a
    model not trained that way the prefix is a poorer embedding, though still a consistent one.
    Asking for as many dimensions as the model has changes nothing; asking for more is an error.
    """
    if dimensions is None or not vectors:
        return vectors
    width = len(vectors[0])
    if dimensions > width:
        raise DimensionsError(f"dimensions {dimensions} is more than the model's {width}")
    if dimensions == width:
        return vectors
    shortened = []
    for vector in vectors:
        prefix = vector[:dimensions]
        norm = math.sqrt(math.fsum(x * x for x in prefix))
        # An all-zero prefix has no direction to keep: it stays zero rather than dividing by 0.
        shortened.append([x / norm for x in prefix] if norm > 0 else prefix)
    return shortened


def check_budget(call: EmbeddingCall, settings: Settings, known_dimensions: int | None) -> None:
    """Refuse (413) a call past COMPAT_MAX_TEXTS inputs or whose answer could pass the answer budget.

    Takes the dimensions known for the call's target (None: the guess that never undershoots);
    returns nothing. These routes have no job to fall back on, so the refusal names the limit.
    """
    count = len(call.texts)
    if count > settings.compat_max_texts:
        raise PayloadTooLargeError(
            f"{count} inputs in one request; the limit is {settings.compat_max_texts} "
            "(send them in smaller requests, or use POST /vectorize, which answers large requests as jobs)"
        )
    answer_bytes = call.answer_bytes(expected_dimensions(known_dimensions))
    if answer_bytes > settings.answer_budget_bytes:
        raise PayloadTooLargeError(
            f"the answer for {count} inputs could take {answer_bytes:,} bytes, over the answer budget of "
            f"{settings.answer_budget_bytes:,} (Lambda returns at most 6 MB): send fewer inputs per request "
            "(or use POST /vectorize, which answers large requests as jobs)",
            code="answer_too_large",
        )


def run_embedding_call(
    call: EmbeddingCall,
    hf: HuggingFaceClient,
    settings: Settings,
    token: Callable[[], str],
    deadline: float,
    memory: DimensionsMemory | None = None,
) -> EmbeddingResult:
    """Every vector of `call`, in input order, or the error that explains why not.

    `token` is asked for only once the request is within the limits, so an oversized request is a
    413 whether or not it brought a token. The answer's size is planned before the first HF call,
    from the dimensions `memory` holds for the target (this container's earlier answers); when
    they are unknown and only the guess is too large, the first HF request (HF_BATCH_SIZE inputs)
    goes alone and teaches them (`probe_dimensions`), so a cold container does not refuse a request
    it can answer; its vectors are kept if the rest follows.
    """
    check_limits(call.texts, settings)
    memory = memory if memory is not None else DimensionsMemory()
    known = memory.recall(call.target.url)
    first = None
    if known is None and call.answer_bytes(expected_dimensions(None)) > settings.answer_budget_bytes:
        check_budget(call, settings, 1)  # past the input limit, or too large even at one dimension
        first = probe_dimensions(hf, call.target, call.texts, token(), deadline, memory, settings.hf_batch_size)
        known = memory.recall(call.target.url)
    check_budget(call, settings, known)
    outcome = embed_rest(hf, call.target, call.texts, first, token(), deadline)
    memory.remember(call.target.url, outcome.dimensions)
    request_wide = outcome.first_request_wide_error()
    if request_wide is not None:
        raise request_wide
    if outcome.errors:
        index = min(outcome.errors)
        first = outcome.errors[index]
        raise HuggingFaceError(
            f"input {index}: {first.message}", status=first.status, code=first.code,
            item_specific=True, retry_after=first.retry_after,
        )
    vectors = [vector for vector in outcome.vectors if vector is not None]
    if len(vectors) != len(call.texts):  # cannot happen without an error above; never answer short
        raise HuggingFaceError("Hugging Face left inputs without vectors", code="hf_bad_response")
    return EmbeddingResult(model=call.target.model, vectors=shorten(vectors, call.dimensions),
                           hf_usage=outcome.usage)


def text_input(value: Any, name: str, *, allow_empty_text: bool = True) -> Any:
    """A string or a non-empty list of strings, else one clear message for the caller.

    Lists of token ids (what OpenAI's API also accepts, and LangChain's OpenAIEmbeddings sends by
    default) are refused by name: ids only mean something to the tokenizer that made them, and the
    model behind this service has a different one.
    """
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        texts = value
    elif isinstance(value, list) and value and all(_is_token_ids(item) or _is_token_id(item) for item in value):
        raise ValueError(
            f"'{name}' holds token ids; this service embeds text only: send strings "
            "(LangChain's OpenAIEmbeddings: pass check_embedding_ctx_length=False)"
        )
    elif isinstance(value, list) and not value:
        raise ValueError(f"'{name}' is an empty list; send at least one text")
    else:
        raise ValueError(f"'{name}' must be a string or a non-empty list of strings")
    if not allow_empty_text and any(text == "" for text in texts):
        raise ValueError(f"'{name}' holds an empty string; every text must have at least one character")
    return value


def _is_token_id(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def _is_token_ids(item: Any) -> bool:
    return isinstance(item, list) and bool(item) and all(_is_token_id(x) for x in item)


def describe_validation(error: ValidationError) -> tuple[str, str | None]:
    """A message naming each bad field (never echoing its value) and the first field's name."""
    parts = []
    first_field = None
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "body"
        first_field = first_field or (str(item["loc"][0]) if item.get("loc") else None)
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(message if message.startswith(f"'{where}'") else f"{where}: {message}")
    more = f" (and {len(error.errors()) - 5} more)" if len(error.errors()) > 5 else ""
    return "; ".join(parts) + more, first_field


def retry_after_header(seconds: float) -> str:
    """`Retry-After` takes whole seconds; round up, and never say 0 (clients would spin)."""
    return str(max(1, math.ceil(seconds)))


def check_answer_size(text: str) -> None:
    """Refuse (413 `answer_too_large`) an answer body that would not fit Lambda's response.

    Takes the body's JSON text and counts it as it takes inside the response envelope (escapes
    included, its own quotes not), so the last check before the answer leaves is exact.
    """
    if envelope_bytes(text) - 2 > MAX_ANSWER_BYTES:
        raise PayloadTooLargeError(
            f"the answer would be {len(text) // 1_000_000} MB or more, over Lambda's 6 MB response limit: "
            "send fewer inputs per request (or use POST /vectorize, which answers large requests as jobs)",
            code="answer_too_large",
        )


def safe_message(message: str, token: str | None) -> str:
    """An error message as it may leave: the token never, even if an upstream echoed it."""
    return redact(message, token)
