"""Routes for the clients people already have: Hugging Face / TEI embedding calls and OpenAI's.

Only translation lives here: the event's body, headers and path in, a proxy response out. The
protocols themselves (parsing, answers, errors) are `vectorizer.protocols`.

Each route reads the raw body and validates it with its protocol's own model, instead of letting
Powertools validate it, so that a bad request is refused in the shape its client understands
(`{"error": ...}`, TEI's `error_type`, OpenAI's `{"error": {"message", "type", ...}}`) rather
than in this API's own `{"error", "code"}` 422.

Paths: API Gateway's greedy `{model+}` may only end a path, so `/models/{model+}` also receives
`/models/{model}/pipeline/feature-extraction`; Powertools' `<model>` matches one segment (no
`/`), so each path is registered once per model shape, `name` and `owner/name` (the only two a
Hub model id has). Only the one-segment form is in the OpenAPI document, as `{model}`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from api_runtime import TOKEN_HEADER, count_hf_usage, deadline, dimensions_memory, documented, services
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from vectorizer.api.answer_budget import dumps
from vectorizer.api.api_keys import bearer_is_api_key
from vectorizer.errors import VectorizerError
from vectorizer.protocols import hf_inference_api as hf
from vectorizer.protocols import openai_embeddings as openai
from vectorizer.protocols.embedding_call import (
    ProtocolAnswer,
    bearer_token,
    check_answer_size,
    run_embedding_call,
    token_for,
)

logger = Logger(child=True)
router = Router()

TAGS = ["compatible"]


def _token_to(destination: str) -> Callable[[], str]:
    """The token for a call to `destination`, asked for once the request is within the limits."""

    def token() -> str:
        headers = router.current_event.headers
        # A bearer the authorizer took as this service's API key is no Hugging Face token.
        consumed = bearer_is_api_key(router.current_event.get("requestContext", {}).get("authorizer"))
        authorization = None if consumed else headers.get("Authorization")
        return token_for(headers.get(TOKEN_HEADER), authorization, services().default_token, destination)

    return token


def _raw_body() -> str | None:
    try:
        return router.current_event.decoded_body
    except (UnicodeDecodeError, ValueError):
        return "\x00"  # not text: every protocol's parser refuses it as bad JSON


def _respond(answer: ProtocolAnswer) -> Response:
    text = dumps(answer.body)
    return Response(status_code=answer.status, content_type=content_types.APPLICATION_JSON, body=text,
                    headers=answer.headers or None)


def _serve(work: Callable[[], ProtocolAnswer], refuse: Callable[[VectorizerError], ProtocolAnswer]) -> Response:
    """Run one protocol request; every failure is answered in that protocol's error shape."""
    try:
        answer = work()
        response = _respond(answer)
        check_answer_size(response.body)
        return response
    except VectorizerError as error:
        log = logger.error if error.status >= 500 else logger.info
        log("request refused", extra={"status": error.status, "code": error.code})
        return _respond(refuse(error))
    except RecursionError:
        # JSON nested deeper than the parser's recursion limit: the caller's body, not our fault.
        logger.info("request refused", extra={"status": 400, "code": "invalid_body"})
        return _respond(refuse(VectorizerError("the request body is nested too deeply to be read",
                                               status=400, code="invalid_body")))
    except Exception:
        # The stack goes to the log (which never holds a token); the caller gets no internals.
        logger.exception("unexpected error")
        return _respond(refuse(VectorizerError("internal error; the request id is in the logs",
                                               status=500, code="internal_error")))


def _feature_extraction(model: str | None, flavor: hf.Flavor) -> Response:
    def work() -> ProtocolAnswer:
        request = hf.parse_request(_raw_body())
        settings = services().settings
        # A client may have sent the model's `/` as %2F; the id itself never holds a `%`.
        name = unquote(model) if model is not None else settings.default_model
        call = hf.build_call(request, name, router.current_event.headers, settings, flavor)
        result = run_embedding_call(call, services().hf, settings, _token_to(call.target.url),
                                    deadline(router.lambda_context), dimensions_memory())
        count_hf_usage(result.hf_usage)
        return hf.answer(result, request.single, flavor)

    return _serve(work, lambda error: hf.error_answer(error, flavor, _known_token()))


def _known_token() -> str | None:
    """The caller's token, if any, for scrubbing error messages (never raises)."""
    headers = router.current_event.headers
    return (headers.get(TOKEN_HEADER) or "").strip() or bearer_token(headers.get("Authorization"))


HF_DESCRIPTION = (
    "Hugging Face feature-extraction protocol. Body: `inputs` (a string or a list of strings); "
    "`normalize`, `truncate`, `truncation_direction`, `prompt_name`, `dimensions` at the root or under "
    "`parameters`; `options` with `wait_for_model` / `use_cache` (or the `x-wait-for-model` / `x-use-cache` "
    "headers). Token: `Authorization: Bearer` or `X-Huggingface-Api-Key`, else the deployment's default. "
    "Answer: a 2-D array of floats, 1-D for a bare string; errors `{\"error\": ...}`."
)


def _documented(success: object, error: object, *statuses: int) -> dict[int, dict]:
    """OpenAPI answers of a route (documentation only: the routes answer pre-shaped bodies)."""
    errors = {status: ERROR_DESCRIPTIONS[status] for status in statuses}
    return documented({200: ("the embeddings", success)}, error, errors)


ERROR_DESCRIPTIONS = {
    400: "a body that is not a request of this protocol, or an input HF refused",
    401: "no Hugging Face token, or HF rejected it",
    404: "HF has no such model",
    413: "too many inputs, a text too long, or an answer over Lambda's 6 MB",
    422: "a body that is not a request of this protocol",
    429: "HF's rate limit (with Retry-After)",
    502: "HF failed, or refused this token access to the model",
    503: "the model is loading (with estimated_time and Retry-After)",
    504: "HF did not answer in time",
}
HF_RESPONSES = _documented(list[float] | list[list[float]], hf.HFErrorBody, *sorted(ERROR_DESCRIPTIONS.keys() - {422}))
TEI_RESPONSES = _documented(list[list[float]], hf.TEIErrorBody, *ERROR_DESCRIPTIONS)
OPENAI_RESPONSES = _documented(openai.OpenAIEmbeddingsResponse, openai.OpenAIErrorResponse,
                              *sorted(ERROR_DESCRIPTIONS.keys() - {422}))


@router.post("/models/<model>", tags=TAGS, summary="Embed (HF Inference API)", description=HF_DESCRIPTION,
             responses=HF_RESPONSES)
def hf_model(model: str):
    return _feature_extraction(model, "hf")


@router.post("/models/<owner>/<name>", include_in_schema=False)
def hf_owned_model(owner: str, name: str):
    return _feature_extraction(f"{owner}/{name}", "hf")


@router.post("/models/<model>/pipeline/feature-extraction", tags=TAGS,
             summary="Embed (HF router path, as Weaviate calls it)", description=HF_DESCRIPTION,
             responses=HF_RESPONSES)
def hf_model_pipeline(model: str):
    return _feature_extraction(model, "hf")


@router.post("/models/<owner>/<name>/pipeline/feature-extraction", include_in_schema=False)
def hf_owned_model_pipeline(owner: str, name: str):
    return _feature_extraction(f"{owner}/{name}", "hf")


@router.post("/pipeline/feature-extraction/<model>", tags=TAGS,
             summary="Embed (old api-inference path, as LangChain-community calls it)", description=HF_DESCRIPTION,
             responses=HF_RESPONSES)
def hf_pipeline_model(model: str):
    return _feature_extraction(model, "hf")


@router.post("/pipeline/feature-extraction/<owner>/<name>", include_in_schema=False)
def hf_pipeline_owned_model(owner: str, name: str):
    return _feature_extraction(f"{owner}/{name}", "hf")


@router.post("/", tags=TAGS, summary="Embed with the default model (an HF endpoint URL)",
             description=HF_DESCRIPTION + " The model is the deployment's DEFAULT_MODEL.", responses=HF_RESPONSES)
def hf_default_model():
    return _feature_extraction(None, "hf")


@router.post("/embed", tags=TAGS, summary="Embed (text-embeddings-inference /embed)",
             description="TEI's `/embed` with the deployment's DEFAULT_MODEL: the same body as the HF routes, "
             "`normalize` true unless set; always a 2-D answer; errors `{\"error\", \"error_type\"}`.",
             responses=TEI_RESPONSES)
def tei_embed():
    return _feature_extraction(None, "tei")


@router.post("/v1/embeddings", tags=TAGS, summary="Embed (OpenAI embeddings API)",
             description="OpenAI's embeddings request: `input` (a string or a list of strings; token arrays are "
             "refused), `model` (a Hugging Face model id; DEFAULT_MODEL if absent), `encoding_format` `float` or "
             "`base64` (little-endian float32), `dimensions`. Token: `Authorization: Bearer` (the SDK's api_key) "
             "or `X-Huggingface-Api-Key`. `usage` counts words and punctuation: an estimate, not the model's "
             "tokenizer.",
             responses=OPENAI_RESPONSES)
def openai_embeddings():
    def work() -> ProtocolAnswer:
        request = openai.parse_request(_raw_body())
        settings = services().settings
        # base64 answers take about a quarter of the bytes of JSON numbers: plan for what is asked.
        call = openai.build_call(request, settings).model_copy(update={"encoding": request.encoding_format})
        result = run_embedding_call(call, services().hf, settings, _token_to(call.target.url),
                                    deadline(router.lambda_context), dimensions_memory())
        count_hf_usage(result.hf_usage)
        return openai.answer(result, request)

    return _serve(work, lambda error: openai.error_answer(error, _known_token()))
