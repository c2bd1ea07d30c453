"""What every route of the API function shares: this container's clients, its time budget, what it
has learned of the models' dimensions, and who the caller is."""

import time
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.api.answer_budget import DimensionsMemory
from vectorizer.api.ownership import caller_identity
from vectorizer.services import Services, build_services

TOKEN_HEADER = "X-Huggingface-Api-Key"
# API Gateway gives up on a REST integration after 29 s; answer before it does.
API_GATEWAY_SECONDS = 28.0
SAFETY_SECONDS = 1.5


@cache
def services() -> Services:
    """Built on the first request and reused while the container stays warm (one HTTP pool)."""
    return build_services()


_memory: tuple[Services, DimensionsMemory] | None = None


def dimensions_memory() -> DimensionsMemory:
    """The dimensions each model answered with in this container; it lives as long as `services()`,
    so a container started cold (or rebuilt with new settings) plans from nothing learned."""
    global _memory
    current = services()
    if _memory is None or _memory[0] is not current:
        _memory = (current, DimensionsMemory())
    return _memory[1]


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
