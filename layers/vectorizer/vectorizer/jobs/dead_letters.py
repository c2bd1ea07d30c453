"""The dead-letter queue's consumer: no job stays open because one of its chunks died on the queue.

A chunk reaches the dead-letter queue when SQS gave up on it (its last delivery failed to
record it, timed out, or its worker was killed) or when the worker parked it (a message no retry
fixes). For a valid chunk message of its job (the worker's own guards: the job's signature for
an API job, the job's chunks and items), every item without a stored vector is recorded as failed
with the reason, the chunk is counted once, and the job closes if complete. Anything else (not a
chunk message, forged, out of bounds, a number taken by other items, a job given up on) is only
reported. Either way the message is then copied, with its reason, to ParkedChunksQueue, where
the operator may read it or redrive it to the work queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from vectorizer.errors import VectorizerError
from vectorizer.jobs.message import ChunkMessage
from vectorizer.jobs.ports import JobDependencies, ParkingPort
from vectorizer.jobs.service import close_dead_chunk
from vectorizer.validation_errors import describe_validation_errors

RECORDED = "recorded"
UNCHANGED = "unchanged"
IGNORED = "ignored"


@dataclass(frozen=True)
class DeadLetterReport:
    """What consuming one dead message did.

    `outcome`: `recorded` (the chunk was counted now), `unchanged` (it was counted already:
    a second consumption) or `ignored` (not a chunk its job takes; `refused` says why).
    `reason` is why the chunk died, as recorded on its items and sent with the parked copy.
    """

    outcome: str
    reason: str
    job_id: str | None = None
    chunk: int | None = None
    succeeded: int = 0
    failed: int = 0
    job_status: str | None = None
    refused: str | None = None


def delivery_limit_reason(max_receive_count: int) -> str:
    """Takes the work queue's maxReceiveCount; returns the reason of a chunk SQS moved without one."""
    return f"delivery limit reached after {max_receive_count} deliveries"


def consume_dead_letter(
    services: JobDependencies, parking: ParkingPort, body: str, *, reason: str | None
) -> DeadLetterReport:
    """Record one dead message's chunk (if it is one its job takes), then park a copy of it.

    Takes the message body and its `reason` attribute (None when SQS moved it: the reason is
    then that its delivery limit was reached). Returns what was done. DynamoDB or SQS failures
    are raised, so that the message stays on the dead-letter queue and is consumed again.
    """
    why = reason or delivery_limit_reason(services.settings.max_receive_count)
    report = _record(services, body, why)
    parking.dead_letter(body, why)
    return report


def _record(services: JobDependencies, body: str, reason: str) -> DeadLetterReport:
    try:
        message = ChunkMessage.model_validate_json(body)
    except ValidationError as error:
        refused = describe_validation_errors(error.errors(include_input=False)).message
        return DeadLetterReport(IGNORED, reason, refused=f"not a chunk message: {refused}")
    try:
        chunk = close_dead_chunk(services, message, reason)
    except VectorizerError as error:
        if error.status >= 500:
            raise
        return DeadLetterReport(IGNORED, reason, message.job_id, message.chunk, refused=error.message)
    if chunk.skipped:
        return DeadLetterReport(
            IGNORED, reason, chunk.job_id, chunk.chunk, job_status=chunk.job_status,
            refused="its job was given up on before all its chunks were queued",
        )
    return DeadLetterReport(
        UNCHANGED if chunk.duplicate else RECORDED, reason, chunk.job_id, chunk.chunk,
        succeeded=chunk.succeeded, failed=chunk.failed, job_status=chunk.job_status,
    )
