"""Sweeper function: a scheduled event to one sweep of the open jobs.

Thin: `vectorizer.jobs.sweeper.sweep` decides which open jobs are stalled and how each closes;
this only builds the job store, asks for the time and reports what was done.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.jobs.job_store import JobStore
from vectorizer.jobs.sweeper import sweep
from vectorizer.services import AWS_CONFIG
from vectorizer.settings import Settings, current_settings

logger = Logger()
metrics = Metrics()


@cache
def job_store() -> tuple[Settings, JobStore]:
    """This container's settings and job store (the sweeper touches nothing else)."""
    settings = current_settings()
    return settings, JobStore(boto3.client("dynamodb", config=AWS_CONFIG), settings.jobs_table, settings.job_ttl_days)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Takes a scheduled event (its content is not read); returns `{"examined", "closed", "moved"}`:
    how many open jobs were idle past the shorter bound, the jobs closed (id, status, missing
    items) and the ids left open because they moved meanwhile."""
    settings, jobs = job_store()
    report = sweep(jobs, datetime.now(UTC), stall_seconds=settings.stall_bound_seconds,
                   submit_stall_seconds=settings.submit_stall_seconds)
    metrics.add_metric(name="StalledJobsClosed", unit=MetricUnit.Count, value=len(report.closed))
    # A sweep that found nothing idle says so only at debug level: it runs every few minutes.
    log = logger.info if report.examined else logger.debug
    log("swept", extra={"examined": report.examined, "closed": len(report.closed)})
    return {
        "examined": report.examined,
        "closed": [{"jobId": c.job_id, "status": c.status, "missing": c.missing} for c in report.closed],
        "moved": report.moved,
    }
