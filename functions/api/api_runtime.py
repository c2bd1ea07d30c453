"""What every route of the API function shares: this container's clients, its time budget, what it
has learned of the models' dimensions, and who the caller is."""

import time
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.api.answer_budget import DimensionsMemory
from vectorizer.api.ownership import caller_identity
from vectorizer.hf.usage import HfUsage
from vectorizer.services import Services, build_services

T = TypeVar("T")

TOKEN_HEADER = "X-Huggingface-Api-Key"
# API Gateway gives up on a REST integration after 29 s; answer before it does.
API_GATEWAY_SECONDS = 28.0
SAFETY_SECONDS = 1.5

# Powertools' Metrics instances share one set per process: the handler's `log_metrics` flushes these too.
_metrics = Metrics()


@cache
def services() -> Services:
    """Built on the first request and reused while the container stays warm (one HTTP pool)."""
    return build_services()


def count_hf_usage(usage: HfUsage) -> None:
    """Report what an inline call asked of HF, and what the content cache and the dedupe spared it,
    under the metric names the worker uses per chunk (an inline call has no job to count it in)."""
    for name, value in usage.metric_counts().items():
        _metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def for_each_services(build: Callable[[Services], T]) -> Callable[[], T]:
    """A getter of one `build(services())` per `services()`: built on first use, kept while the
    container stays warm, built afresh when `services()` is (tests rebuild it with new settings)."""
    held: list[tuple[Services, T]] = []

    def get() -> T:
        current = services()
        if not held or held[0][0] is not current:
            held[:] = [(current, build(current))]
        return held[0][1]

    return get


# The dimensions each model answered with in this container, so that a container started cold (or
# rebuilt with new settings) plans from nothing learned.
dimensions_memory = for_each_services(lambda _: DimensionsMemory())


def caller(event: Any) -> str:
    """The identity that owns what this request creates (`caller_identity` of its request context)."""
    return caller_identity(event.raw_event.get("requestContext"))


def documented(
    successes: Mapping[int, tuple[str, object]], error_model: object, errors: Mapping[int, str]
) -> dict[int, dict]:
    """A route's answers for the OpenAPI document: each success with its model, each error status
    with the route's error model. Powertools drops the success answer it would derive from a
    return type once `responses` is given, so successes are always listed here."""

    def answer(description: str, model: object) -> dict:
        return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": model}}}

    return {
        **{status: answer(description, model) for status, (description, model) in successes.items()},
        **{status: answer(description, error_model) for status, description in errors.items()},
    }


def deadline(context: LambdaContext) -> float:
    """The `time.monotonic()` by which an answer must be ready."""
    remaining = context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    return time.monotonic() + max(0.0, min(API_GATEWAY_SECONDS, remaining))
