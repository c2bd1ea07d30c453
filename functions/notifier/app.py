"""Notifier function: a `Vectorizer Job Ended` event (EventBridge) to the job's signed callback.

A file job's manifest and failures file are written first (`files.file_jobs.FileJobManifests`),
so a callback's receiver finds them; a retried event rewrites the same bytes. A write that fails
raises, and Lambda retries the event.

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

from vectorizer.errors import JobNotFoundError
from vectorizer.files.file_jobs import FileJobManifests
from vectorizer.jobs.callbacks import Notifier, call_back
from vectorizer.jobs.notifications import JOB_ENDED, JobEndedDetail
from vectorizer.services import LazyTracer, build_manifests, build_notifier

logger = Logger()
tracer = LazyTracer()
metrics = Metrics()

# Kept back from the callback's retries, so that the invocation ends by itself, not by timeout.
RESERVE_SECONDS = 2.0


@cache
def notifier() -> Notifier:
    return build_notifier()


@cache
def manifests() -> FileJobManifests:
    return build_manifests()


def write_manifest_if_file_job(job_id: str) -> bool:
    """Takes an ended job's id; writes its manifest if it is a file job. Returns whether one was written."""
    try:
        job = notifier().jobs.get(job_id, max_errors=0)
    except JobNotFoundError:  # gone (its TTL): nothing to describe
        return False
    written = manifests().write(job)
    if written is not None:
        logger.info("manifest written", extra={"shards": len(written.shards), "failed": written.counts.failed})
        metrics.add_metric(name="ManifestsWritten", unit=MetricUnit.Count, value=1)
    return written is not None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Takes an EventBridge event; returns `{"jobId", "callback": "none|delivered|refused"}`, with
    `"manifest": true` when a file job's manifest was written."""
    if event.get("detail-type") != JOB_ENDED:
        logger.warning("not a job-ended event: ignored", extra={"detail_type": str(event.get("detail-type"))[:100]})
        return {"jobId": None, "callback": "none"}
    try:
        detail = JobEndedDetail.model_validate(event.get("detail"))
    except ValidationError as error:
        logger.error("a job-ended event without a valid detail: ignored", extra={"errors": error.error_count()})
        return {"jobId": None, "callback": "none"}
    logger.append_keys(job_id=detail.job_id)
    manifest = write_manifest_if_file_job(detail.job_id)
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
    outcome = call_back(notifier(), detail, deadline)
    written = {"manifest": True} if manifest else {}
    if outcome is None:
        return {"jobId": detail.job_id, "callback": "none", **written}
    metrics.add_metric(name="CallbacksDelivered" if outcome.delivered else "CallbacksRefused",
                       unit=MetricUnit.Count, value=1)
    return {"jobId": detail.job_id, "callback": "delivered" if outcome.delivered else "refused",
            "attempts": outcome.attempts, **written}
