"""When a job ends, say so: one EventBridge event, `Vectorizer Job Ended`, for whoever listens.

The notifier function (callbacks to a job's `callbackUrl`) listens through a rule, and so may an
operator's own rules. Publishing is best-effort: the job's status is already written when the
event goes out, and a failing PutEvents (refused, throttled, unreachable, or an entry reported
in `FailedEntryCount`) is logged as an error, never raised: a chunk is never retried, nor a job
failed, because its notice could not be sent.

A job ends once: `finish_if_complete` writes a final status for a job with a chunk count or a
total only once, so whoever wrote it (the worker, the dead-letter consumer, a sweeper) calls
`notify_if_ended` (or `notify_job_ended` with the record in hand) right after, and the event is
published once. An open-ended job (no chunk count, no total: a producer's) never ends, so it
never publishes.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from vectorizer.jobs.job_store import FINAL_STATUSES, JobRecord
from vectorizer.jobs.ports import JobDependencies

logger = logging.getLogger(__name__)

SOURCE = "vectorizer"
JOB_ENDED = "Vectorizer Job Ended"


class PublishError(Exception):
    """EventBridge took the call but not the event (an entry in `FailedEntryCount`)."""


class JobEndedDetail(BaseModel):
    """The `detail` of a `Vectorizer Job Ended` event, and the body of a job's callback."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    job_id: str = Field(alias="jobId")
    status: Literal["succeeded", "failed", "partial"]
    total: int | None
    succeeded: int
    failed: int
    owner: str | None
    model: str | None
    dimensions: int | None
    failure_reason: str | None = Field(alias="failureReason")
    ended_at: str = Field(alias="endedAt")

    def to_json(self) -> str:
        """Returns the detail as compact JSON with its public (camelCase) names, in a fixed order."""
        return self.model_dump_json(by_alias=True)


def job_ended_detail(job: JobRecord) -> JobEndedDetail | None:
    """Takes a job record; returns its end as an event detail, or None if it has not ended.

    A job that is not in a final status, or is open-ended (it never ends), has no end to tell.
    `endedAt` is the record's `updatedAt`, written with the final status.
    """
    if job.status not in FINAL_STATUSES or job.open_ended:
        return None
    return JobEndedDetail(
        job_id=job.job_id, status=job.status, total=job.total, succeeded=job.succeeded, failed=job.failed,
        owner=job.owner, model=job.model, dimensions=job.dimensions, failure_reason=job.failure_reason,
        ended_at=job.updated_at,
    )


class EventBridgeEvents:
    """Publishes events to one EventBridge bus (`jobs.ports.EventPublisherPort`)."""

    def __init__(self, events_client: Any, bus_name: str) -> None:
        self._events = events_client
        self._bus = bus_name

    def publish(self, detail_type: str, detail: str) -> None:
        """Put one event (source `vectorizer`) with `detail_type` and `detail` (JSON text) on the bus.

        Raises `PublishError` when EventBridge reports the entry failed, and boto3's own errors.
        """
        answer = self._events.put_events(Entries=[{
            "Source": SOURCE, "DetailType": detail_type, "Detail": detail, "EventBusName": self._bus,
        }])
        if answer.get("FailedEntryCount"):
            entry = next((e for e in answer.get("Entries", []) if e.get("ErrorCode")), {})
            raise PublishError(f"{entry.get('ErrorCode', 'unknown')}: {entry.get('ErrorMessage', '')}".strip())


class NoEvents:
    """No bus configured (`EVENT_BUS_NAME` empty): events are dropped, quietly."""

    def publish(self, detail_type: str, detail: str) -> None:
        """Takes an event's type and detail; does nothing."""


def _failure(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "unknown error")
    if isinstance(error, PublishError | BotoCoreError):
        return str(error)
    return type(error).__name__


def notify_job_ended(services: JobDependencies, job: JobRecord) -> bool:
    """Publish `Vectorizer Job Ended` for a job that has ended; returns whether an event went out.

    Takes the job service's dependencies and the job's record as it stands after its final
    status was written. Never raises: a job that has not ended publishes nothing, and a failed
    publish is logged as an error with the job id.
    """
    detail = job_ended_detail(job)
    if detail is None:
        return False
    try:
        services.events.publish(JOB_ENDED, detail.to_json())
    except Exception as error:  # best-effort: the job has ended whatever EventBridge says
        logger.error("could not publish the end of job %s: %s", job.job_id, _failure(error))
        return False
    return True


def notify_if_ended(services: JobDependencies, job_id: str) -> bool:
    """Read the job and publish its end if it has ended; returns whether an event went out.

    Takes the dependencies and a job id, for callers that just wrote its final status and hold
    no record. Never raises: a job that cannot be read is logged as an error.
    """
    try:
        job = services.jobs.get(job_id, max_errors=0)
    except Exception as error:
        logger.error("could not read job %s to publish its end: %s", job_id, _failure(error))
        return False
    return notify_job_ended(services, job)
