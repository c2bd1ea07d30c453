"""Notifier function: a `Vectorizer Job Ended` event (EventBridge) to the job's signed callback.

EventBridge invokes it asynchronously through the template's rule. A job without a callbackUrl
is done at once. A callback that a later try may deliver (timeouts, 5xx past the retries that
fit in this invocation) raises, so Lambda retries the event (its asynchronous retries); a
callback refused for good (a redirect, a 4xx, a host no longer allowed) is logged and dropped.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from vectorizer.jobs.callbacks import Notifier, call_back
from vectorizer.jobs.notifications import JOB_ENDED, JobEndedDetail
from vectorizer.services import LazyTracer, build_notifier

logger = Logger()
tracer = LazyTracer()
metrics = Metrics()

# Kept back from the callback's retries, so that the invocation ends by itself, not by timeout.
RESERVE_SECONDS = 2.0


@cache
def notifier() -> Notifier:
    return build_notifier()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Takes an EventBridge event; returns `{"jobId", "callback": "none|delivered|refused"}`."""
    if event.get("detail-type") != JOB_ENDED:
        logger.warning("not a job-ended event: ignored", extra={"detail_type": str(event.get("detail-type"))[:100]})
        return {"jobId": None, "callback": "none"}
    try:
        detail = JobEndedDetail.model_validate(event.get("detail"))
    except ValidationError as error:
        logger.error("a job-ended event without a valid detail: ignored", extra={"errors": error.error_count()})
        return {"jobId": None, "callback": "none"}
    logger.append_keys(job_id=detail.job_id)
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
    outcome = call_back(notifier(), detail, deadline)
    if outcome is None:
        return {"jobId": detail.job_id, "callback": "none"}
    metrics.add_metric(name="CallbacksDelivered" if outcome.delivered else "CallbacksRefused",
                       unit=MetricUnit.Count, value=1)
    return {"jobId": detail.job_id, "callback": "delivered" if outcome.delivered else "refused",
            "attempts": outcome.attempts}
