"""Authorizer function: API Gateway's REQUEST authorizer event to the API-key decision.

Thin: `vectorizer.api.api_keys.authorize` holds the logic. It never logs the event (its headers
hold the service's API key and perhaps a Hugging Face token).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.api.api_keys import authorize

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Takes a REQUEST authorizer event; returns the Allow policy with `usageIdentifierKey` and context."""
    answer = authorize(event)
    logger.info("authorized", extra={"principalId": answer["principalId"],
                                     "apiKeySource": answer["context"]["apiKeySource"]})
    return answer
