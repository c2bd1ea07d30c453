"""API function: HTTP requests from API Gateway (REST, proxy integration) to vectorizer calls."""


import time
from functools import cache
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.api_models import JobAccepted, JobStatus, VectorizeRequest, VectorizeResponse, VectorsPage
from vectorizer.config import resolve_target
from vectorizer.credentials import choose_token
from vectorizer.errors import VectorizerError
from vectorizer.inline import vectorize_inline
from vectorizer.jobs import job_status, job_vectors, submit_job
from vectorizer.limits import check_limits, runs_inline
from vectorizer.request_errors import describe_validation_errors
from vectorizer.services import Services, build_services

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)

TOKEN_HEADER = "X-Huggingface-Api-Key"
# API Gateway gives up on a REST integration after 29 s; answer before it does.
API_GATEWAY_SECONDS = 28.0
SAFETY_SECONDS = 1.5


@cache
def services() -> Services:
    return build_services()


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _deadline() -> float:
    remaining = app.lambda_context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    return time.monotonic() + max(0.0, min(API_GATEWAY_SECONDS, remaining))


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/vectorize")
def vectorize(request: Annotated[VectorizeRequest, Body()]) -> Response[VectorizeResponse | JobAccepted]:
    settings = services().settings
    check_limits(request.texts, settings)
    target = resolve_target(request.config, request.purpose, settings)
    token, own = choose_token(app.current_event.headers.get(TOKEN_HEADER), services().default_token)
    count = len(request.texts)
    if runs_inline(count, request.mode, settings):
        answer = vectorize_inline(services().hf, target, request.texts, request.ids, token, _deadline())
        metrics.add_metric(name="InlineTexts", unit=MetricUnit.Count, value=count)
        return _json(200, answer.model_dump(mode="json", by_alias=True))
    accepted = submit_job(
        services(), config=request.config, purpose=request.purpose, texts=request.texts,
        ids=request.ids, token=token, token_is_callers=own, model=target.model,
    )
    logger.info("job queued", extra={"job_id": accepted.job_id, "total": count, "chunks": accepted.chunks})
    metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=1)
    return _json(202, accepted.model_dump(mode="json", by_alias=True), {"Location": f"/jobs/{accepted.job_id}"})


@app.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response[JobStatus]:
    return _json(200, job_status(services(), job_id).model_dump(mode="json", by_alias=True))


@app.get("/jobs/<job_id>/vectors")
def get_job_vectors(
    job_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> Response[VectorsPage]:
    page: VectorsPage = job_vectors(services(), job_id, limit=limit, next_token=next_token)
    return _json(200, page.model_dump(mode="json", by_alias=True))


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response:
    problem = describe_validation_errors(error.errors())
    return _json(problem.status, problem.to_body())


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
    return app.resolve(event, context)

