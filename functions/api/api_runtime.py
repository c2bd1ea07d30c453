"""What every route of the API function shares: this container's clients and its time budget."""

import time
from functools import cache

from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.services import Services, build_services

TOKEN_HEADER = "X-Huggingface-Api-Key"
# API Gateway gives up on a REST integration after 29 s; answer before it does.
API_GATEWAY_SECONDS = 28.0
SAFETY_SECONDS = 1.5


@cache
def services() -> Services:
    """Built on the first request and reused while the container stays warm (one HTTP pool)."""
    return build_services()


def deadline(context: LambdaContext) -> float:
    """The `time.monotonic()` by which an answer must be ready."""
    remaining = context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    return time.monotonic() + max(0.0, min(API_GATEWAY_SECONDS, remaining))
