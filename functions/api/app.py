"""API function: HTTP requests from API Gateway (REST, proxy integration) to vectorizer calls."""


import json
import re
from functools import cache, partial
from typing import Annotated

from api_runtime import (
    TOKEN_HEADER,
    caller,
    count_hf_usage,
    deadline,
    dimensions_memory,
    documented,
    for_each_services,
    services,
)
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.typing import LambdaContext
from compat_routes import router as compat_router
from idempotent_jobs import IDEMPOTENCY_HEADER, IdempotentSubmissions

from vectorizer.api.answer_budget import LAMBDA_RESPONSE_LIMIT, expected_dimensions
from vectorizer.api.inline import probe_dimensions, vectorize_inline
from vectorizer.api.job_reports import job_status, job_vectors
from vectorizer.api.limits import check_limits, inline_answer_bytes, may_run_inline, runs_inline
from vectorizer.api.models import (
    ErrorBody,
    FileJobAccepted,
    FileJobRequest,
    JobAccepted,
    JobStatus,
    VectorizeRequest,
    VectorizeResponse,
    VectorsPage,
)
from vectorizer.config import check_callback_allowed, resolve_target
from vectorizer.credentials import choose_token
from vectorizer.errors import JobNotFoundError, VectorizerError
from vectorizer.files.submit import submit_file_job
from vectorizer.jobs.message import JOB_ID_PATTERN
from vectorizer.jobs.service import submit_job
from vectorizer.services import LazyTracer
from vectorizer.validation_errors import describe_validation_errors

logger = Logger()
tracer = LazyTracer()
metrics = Metrics()
# Non-ASCII stays itself in every answer: a `\u` escape would take six bytes for one character.
app = APIGatewayRestResolver(
    enable_validation=True, serializer=partial(json.dumps, ensure_ascii=False, separators=(",", ":"), cls=Encoder)
)
app.include_router(compat_router)


# How the service describes itself: GET /openapi.json, and Swagger UI at GET /swagger (its
# script and styles are served inline by Powertools, so the page works without the internet).
# Both need Powertools' OpenAPI models, pydantic models of the whole OpenAPI specification that
# take longer to import than the rest of this module: they are loaded with the first invocation.
@cache
def openapi_info() -> dict:
    """The document's title, version, description and security, as `get_openapi_json_schema` takes them."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    return {
        "title": "Text vectorizer",
        "version": "1.0.0",
        "description": (
            "Hugging Face embeddings as a service, doing the job of Weaviate's text2vec-huggingface module: "
            "small batches answered inline, large ones as jobs on SQS with their vectors in DynamoDB."
        ),
        # The caller's own HF token is optional (a default may be configured): an empty requirement
        # beside the header scheme tells Swagger UI and generated clients exactly that.
        "security_schemes": {"huggingfaceToken": APIKey(name=TOKEN_HEADER, in_=APIKeyIn.header,
                                                        description="your Hugging Face token (optional)")},
        "security": [{"huggingfaceToken": []}, {}],
    }


@cache
def resolver() -> APIGatewayRestResolver:
    """`app` with Swagger UI registered at GET /swagger, done once (`enable_swagger` loads the OpenAPI models)."""
    app.enable_swagger(path="/swagger", **openapi_info())
    return app



def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def answers(successes: dict[int, tuple[str, type]], *error_statuses: int) -> dict[int, dict]:
    """A route's documented answers; every error has the contract's `{"error", "code"}` body."""
    return documented(successes, ErrorBody, {status: ERROR_DESCRIPTIONS[status] for status in error_statuses})


ERROR_DESCRIPTIONS = {
    400: "bad JSON, or a module config that breaks the text2vec-huggingface rules",
    401: "no Hugging Face token: neither the header nor a configured default",
    403: "endpointURL is not https or not on the allowed hosts",
    404: "no such job",
    409: "a request with this Idempotency-Key is still being processed; on /jobs/{jobId}/vectors, a file job "
    "(`vectors_in_files`: its vectors are in S3, linked from GET /jobs/{jobId})",
    413: "too many texts, or a text too long (the limit is in the message)",
    422: "the body does not fit the schema",
    502: "Hugging Face failed or refused the token (its own message included)",
    503: "the model is loading",
    504: "Hugging Face did not answer in time",
}
HF_ERRORS = (502, 503, 504)


@app.get("/health", summary="Liveness", tags=["service"])
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/openapi.json", include_in_schema=False)
def openapi_document():  # no annotation: a bare Response has no schema
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(**openapi_info()),
    )


@app.post(
    "/vectorize", tags=["vectorize"], summary="Vectorize texts or Weaviate objects, inline or as a job",
    description="Up to the sync limit the vectors come back at once (200); more texts, or `mode: async`, "
    "become a job (202 with `Location: /jobs/{jobId}`). With an `Idempotency-Key` header, a retry of a job's "
    "submission with the same key and body gets the first answer and the same job (another body: 422 "
    "`idempotency_key_reused`; the first still running: 409 `idempotency_key_in_progress`).",
    responses=answers(
        {200: ("the vectors, in input order", VectorizeResponse),
         202: ("a job was queued; follow its Location", JobAccepted)},
        400, 401, 403, 409, 413, 422, *HF_ERRORS,
    ),
)
def vectorize(request: Annotated[VectorizeRequest, Body()]) -> Response[VectorizeResponse | JobAccepted]:
    settings = services().settings
    check_limits(request.texts, settings)
    check_callback_allowed(request.callback_url, settings)
    target = resolve_target(request.config, request.purpose, settings)
    token, own = choose_token(app.current_event.headers.get(TOKEN_HEADER), services().default_token, target.url)
    count = len(request.texts)
    memory = dimensions_memory()
    known = memory.recall(target.url)
    answer_bytes = inline_answer_bytes(count, request.ids, expected_dimensions(known))
    first = None
    if known is None and answer_bytes > settings.answer_budget_bytes and may_run_inline(count, request.mode, settings):
        # Too large only at the guessed dimensions: the first HF request goes alone to learn the real ones.
        first = probe_dimensions(services().hf, target, request.texts, token, deadline(app.lambda_context), memory,
                                 settings.hf_batch_size)
        answer_bytes = inline_answer_bytes(count, request.ids, expected_dimensions(memory.recall(target.url)))
    if runs_inline(count, request.mode, settings, answer_bytes):
        answer = vectorize_inline(
            services().hf, target, request.texts, request.ids, token, deadline(app.lambda_context), memory, first
        )
        metrics.add_metric(name="InlineTexts", unit=MetricUnit.Count, value=count)
        count_hf_usage(answer.usage)
        return _json(200, answer.response.model_dump(mode="json", by_alias=True))
    owner = caller(app.current_event)

    def submit() -> dict:
        queued = submit_job(
            services(), config=request.config, purpose=request.purpose, texts=request.texts,
            ids=request.ids, token=token, token_is_callers=own, model=target.model, owner=owner,
            callback_url=request.callback_url,
        )
        accepted = JobAccepted(job_id=queued.job_id, total=queued.total, chunks=queued.chunks)
        logger.info("job queued", extra={"job_id": accepted.job_id, "total": count, "chunks": accepted.chunks})
        metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=1)
        return accepted.model_dump(mode="json", by_alias=True)

    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    body = submit() if key is None else idempotent_submissions().submit(
        owner=owner, key=key, body=app.current_event.json_body, submit=submit, context=app.lambda_context,
    )
    return _json(202, body, {"Location": f"/jobs/{body['jobId']}"})


@app.post(
    "/jobs", tags=["jobs"], summary="Vectorize a JSONL or CSV file in S3, vectors written to S3",
    description="Without `input.uri`: 202 `awaiting_upload` with a presigned PUT link (`upload`) for the file; the "
    "job starts when the upload lands. With `input.uri` (`s3://bucket/key`, in the service's files bucket or on "
    "INPUT_BUCKETS): 202 `queued`. Follow `Location`: once the job has ended, `GET /jobs/{jobId}` links its "
    "manifest, failures and vector shards (`output`). An `Idempotency-Key` header works as for /vectorize.",
    responses=answers(
        {202: ("the job was recorded; follow its Location", FileJobAccepted)}, 400, 401, 403, 409, 422,
    ),
)
def submit_file(request: Annotated[FileJobRequest, Body()]) -> Response[FileJobAccepted]:
    settings = services().settings
    check_callback_allowed(request.callback_url, settings)
    target = resolve_target(request.config, request.purpose, settings)
    token, own = choose_token(app.current_event.headers.get(TOKEN_HEADER), services().default_token, target.url)
    owner = caller(app.current_event)

    def submit() -> dict:
        accepted = submit_file_job(
            services(), config=request.config, purpose=request.purpose, file_format=request.input.format,
            uri=request.input.uri, token=token, token_is_callers=own, model=target.model, owner=owner,
            callback_url=request.callback_url,
            object_class=(request.weaviate_class.model_dump(mode="json", by_alias=True, exclude_none=True)
                          if request.weaviate_class is not None else None),
        )
        logger.info("file job recorded", extra={"job_id": accepted.job_id, "status": accepted.status})
        metrics.add_metric(name="FileJobsSubmitted", unit=MetricUnit.Count, value=1)
        return accepted.model_dump(mode="json", by_alias=True)

    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    body = submit() if key is None else idempotent_submissions().submit(
        owner=owner, key=key, body=app.current_event.json_body, submit=submit, context=app.lambda_context,
    )
    return _json(202, body, {"Location": f"/jobs/{body['jobId']}"})


# This container's record of submissions by Idempotency-Key, as long-lived as `services()`.
idempotent_submissions = for_each_services(IdempotentSubmissions)


def existing_job_id(job_id: str) -> str:
    # No job was ever created under an id outside the pattern; DynamoDB would refuse some as keys.
    if not re.match(JOB_ID_PATTERN, job_id):
        raise JobNotFoundError(f"no job with id {job_id[:140]!r}")
    return job_id


@app.get("/jobs/<jobId>", tags=["jobs"], summary="A job's status and counters",
         description="For a file job also its `input`, and once it has ended `output`: links to its manifest, "
         "failures and shards, the shards a page at a time (`output.nextToken`, passed back as `nextToken`).",
         responses=answers({200: ("the job", JobStatus)}, 400, 404))
def get_job(
    jobId: str,  # camelCase: the path parameter's public name
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=20)] = None,
) -> Response[JobStatus]:
    status = job_status(services(), existing_job_id(jobId), caller(app.current_event), next_token=next_token)
    return _json(200, status.model_dump(mode="json", by_alias=True))


@app.get("/jobs/<jobId>/vectors", tags=["jobs"], summary="A job's vectors in index order, a page at a time",
         responses=answers({200: ("a page of vectors", VectorsPage)}, 400, 404, 409))
def get_job_vectors(
    jobId: str,  # camelCase: the path parameter's public name
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> Response[VectorsPage]:
    page: VectorsPage = job_vectors(
        services(), existing_job_id(jobId), caller(app.current_event), limit=limit, next_token=next_token
    )
    return _json(200, page.model_dump(mode="json", by_alias=True))


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response:
    problem = describe_validation_errors(error.errors())
    return _json(problem.status, problem.to_body())


@app.not_found
def no_route(error: NotFoundError) -> Response:
    # API Gateway's greedy routes take paths the router's own patterns refuse (a path parameter
    # with characters no model id or job id holds): nothing is there, so a 404, not the 500 below.
    event = app.current_event
    return _json(404, {"error": f"no route for {event.http_method} {event.path}"[:300], "code": "not_found"})


@app.exception_handler(RecursionError)
def too_deep(error: RecursionError) -> Response:
    # JSON nested deeper than the parser's recursion limit: the body is unreadable, not our fault.
    return _json(400, {"error": "the request body is nested too deeply to be read", "code": "bad_json"})


@app.exception_handler(UnicodeDecodeError)
def not_utf8(error: UnicodeDecodeError) -> Response:
    return _json(400, {"error": "the request body is not UTF-8 text", "code": "bad_json"})


@app.exception_handler(VectorizerError)
def vectorizer_error(error: VectorizerError) -> Response:
    log = logger.error if error.status >= 500 else logger.info
    log("request refused", extra={"status": error.status, "code": error.code})
    return _json(error.status, error.to_body())


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response:
    # The stack goes to the log (which never holds a token); the caller gets no internals.
    logger.exception("unexpected error")
    return _json(500, {"error": "internal error; the request id is in the logs", "code": "internal_error"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # Every invocation publishes at least this one metric, so the EMF line is never empty.
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    return within_response_limit(resolver().resolve(event, context))


def within_response_limit(result: dict) -> dict:
    """The proxy result, or a 413 in its place if it would not fit Lambda's 6 MB response.

    The last guard behind the budgets each route plans with: past the limit API Gateway would
    answer a bare 502, telling the caller nothing.
    """
    if len(json.dumps(result)) <= LAMBDA_RESPONSE_LIMIT:  # as the 3.11 runtime writes it
        return result
    logger.error("answer over the response limit", extra={"status": result.get("statusCode")})
    body = {"error": "the answer would be over Lambda's 6 MB response limit: ask for less per request",
            "code": "answer_too_large"}
    return {"statusCode": 413, "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(body), "isBase64Encoded": False}

