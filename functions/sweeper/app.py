"""Sweeper function: a scheduled event to one sweep of the open jobs.

Thin: `vectorizer.jobs.sweeper.sweep` decides which open jobs are stalled and how each closes;
this only builds the job store, asks for the time and reports what was done.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.files.file_jobs import awaits_upload
from vectorizer.jobs.notifications import notify_if_ended
from vectorizer.jobs.sweeper import sweep
from vectorizer.services import Services, build_services

logger = Logger()
metrics = Metrics()


@cache
def services() -> Services:
    """This container's clients and stores: the sweeper uses the job store and the event bus."""
    return build_services()


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Takes a scheduled event (its content is not read); returns `{"examined", "closed", "moved"}`:
    how many open jobs were idle past the shorter bound, the jobs closed (id, status, missing
    items) and the ids left open because they moved meanwhile."""
    deps = services()
    report = sweep(deps.jobs, datetime.now(UTC), stall_seconds=deps.settings.stall_bound_seconds,
                   submit_stall_seconds=deps.settings.submit_stall_seconds,
                   on_closed=lambda job_id: notify_if_ended(deps, job_id),
                   awaits_upload=partial(awaits_upload, deps.file_jobs),
                   upload_seconds=deps.settings.upload_url_seconds)
    metrics.add_metric(name="StalledJobsClosed", unit=MetricUnit.Count, value=len(report.closed))
    # A sweep that found nothing idle says so only at debug level: it runs every few minutes.
    log = logger.info if report.examined else logger.debug
    log("swept", extra={"examined": report.examined, "closed": len(report.closed)})
    return {
        "examined": report.examined,
        "closed": [{"jobId": c.job_id, "status": c.status, "missing": c.missing} for c in report.closed],
        "moved": report.moved,
    }
