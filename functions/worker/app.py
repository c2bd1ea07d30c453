"""Worker function: SQS batches of chunk messages to vectorizer chunk processing.

Each record is one chunk. A record that fails for a passing reason is reported back to SQS as a
batch item failure, so only it is delivered again, until its last delivery: then (and at once
for a failure no retry can fix) its items are recorded as failed and it is acknowledged, so the
job still ends. A record that can never succeed as a message (it does not fit the message
schema, its config is refused, or its chunk number was used for other items) is parked on the
dead-letter queue with its reason, once, instead of looping until maxReceiveCount. So is a
message that is not its job's to send: unsigned for a job the API created, or outside the job's
own chunks and items.

Every failure logs once, with the job, the chunk and the reason: a record handed back to SQS
(a warning before its last delivery; an error on it, for SQS then moves it to the dead-letter
queue, whose consumer records its items), a parked one, a skipped one, a failed chunk.

Each record gets an equal share of the invocation's time left, so the records after it still
have theirs: the handler builds a `BatchClock` per invocation and binds it to the record
handler, and Powertools hands that bound handler the Lambda context.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from vectorizer.errors import VectorizerError
from vectorizer.jobs.message import ChunkItem, ChunkMessage
from vectorizer.jobs.service import ChunkRetryLater, failure_text, process_chunk
from vectorizer.services import LazyTracer, Services, build_services
from vectorizer.validation_errors import describe_validation_errors

logger = Logger()
tracer = LazyTracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

# Time kept back from the HF calls for the DynamoDB writes that follow them.
WRITE_RESERVE_SECONDS = 15.0

# What a parked message may keep: the schema's own keys. Anything else (a stray `token`...)
# is dropped, so the dead-letter queue never holds what a producer should not have sent.
MESSAGE_KEYS = frozenset(f.alias or name for name, f in ChunkMessage.model_fields.items())
ITEM_KEYS = frozenset(f.alias or name for name, f in ChunkItem.model_fields.items())


@cache
def services() -> Services:
    return build_services()


def time_share(remaining_seconds: float, records_left: int, reserve_seconds: float = WRITE_RESERVE_SECONDS) -> float:
    """Seconds one record may spend on HF calls: an equal share of what is left after the reserve.

    Takes the invocation's remaining seconds and how many records, this one included, still
    need time; never less than one second, so a late record still gets a try.
    """
    return max(1.0, (remaining_seconds - reserve_seconds) / max(1, records_left))


@dataclass
class BatchClock:
    """One invocation's count of records not yet handled, the one being handled included."""

    records_left: int

    def deadline(self, context: LambdaContext) -> float:
        """This record's deadline (`time.monotonic()`): its share of the time the context has left."""
        remaining = context.get_remaining_time_in_millis() / 1000
        return time.monotonic() + time_share(remaining, self.records_left)

    def done_one(self) -> None:
        """One record handled: the rest share what remains."""
        self.records_left = max(1, self.records_left - 1)


def _known_keys_only(body: str) -> tuple[str, list[str]]:
    """The body without keys the message schema does not know, and the names of those dropped."""
    try:
        message: Any = json.loads(body)
    except ValueError:
        return body, []
    if not isinstance(message, dict):
        return body, []
    dropped = sorted(key for key in message if key not in MESSAGE_KEYS)
    kept = {key: value for key, value in message.items() if key in MESSAGE_KEYS}
    if isinstance(kept.get("items"), list):
        items = []
        for position, item in enumerate(kept["items"]):
            if isinstance(item, dict):
                dropped += sorted(f"items.{position}.{key}" for key in item if key not in ITEM_KEYS)
                item = {key: value for key, value in item.items() if key in ITEM_KEYS}
            items.append(item)
        kept["items"] = items
    if not dropped:
        return body, []
    return json.dumps(kept, ensure_ascii=False), dropped


def _park(record: SQSRecord, reason: str) -> None:
    body, dropped = _known_keys_only(record.body)
    if dropped:
        listed = ", ".join(dropped[:10]) + (f" (and {len(dropped) - 10} more)" if len(dropped) > 10 else "")
        reason = f"{reason} [unknown keys removed before parking: {listed}]"
    logger.error(
        "chunk message parked on the dead-letter queue", extra={"reason": reason, "message_id": record.message_id}
    )
    services().queue.dead_letter(body, reason)
    metrics.add_metric(name="MessagesDeadLettered", unit=MetricUnit.Count, value=1)


def _handed_back(message: ChunkMessage, error: Exception, deliveries: int, final_attempt: bool) -> None:
    """Say why a chunk goes back to SQS: on its last delivery, it goes on to the dead-letter queue."""
    details = {"job_id": message.job_id, "chunk": message.chunk, "reason": failure_text(error), "delivery": deliveries}
    if final_attempt:
        logger.error("chunk could not be recorded on its last delivery; it goes to the dead-letter queue",
                     extra=details)
        metrics.add_metric(name="ChunksDeadLettered", unit=MetricUnit.Count, value=1)
    else:
        logger.warning("chunk will be retried", extra=details)
        metrics.add_metric(name="ChunksRetried", unit=MetricUnit.Count, value=1)


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext, clock: BatchClock) -> None:
    """Work one SQS record within its share of the time; raises to report it for redelivery.

    Powertools passes `record` and `lambda_context` (it looks for that parameter by name); the
    invocation binds its `clock`.
    """
    try:
        _handle(record, clock.deadline(lambda_context))
    finally:
        clock.done_one()


def _handle(record: SQSRecord, deadline: float) -> None:
    try:
        message = ChunkMessage.model_validate_json(record.body)
    except ValidationError as error:
        _park(record, describe_validation_errors(error.errors(include_input=False)).message)
        return
    deliveries = int(record.attributes.approximate_receive_count or 1)
    final_attempt = deliveries >= services().settings.max_receive_count
    logger.append_keys(job_id=message.job_id, chunk=message.chunk)
    try:
        report = process_chunk(services(), message, final_attempt=final_attempt, deadline=deadline)
    except ChunkRetryLater as retry:
        logger.warning("chunk will be retried", extra={"reason": retry.error.message, "delivery": deliveries})
        metrics.add_metric(name="ChunksRetried", unit=MetricUnit.Count, value=1)
        raise
    except VectorizerError as error:
        if error.status >= 500:
            _handed_back(message, error, deliveries, final_attempt)
            raise
        _park(record, error.message)
        return
    except Exception as error:
        _handed_back(message, error, deliveries, final_attempt)
        raise
    finally:
        logger.remove_keys(["job_id", "chunk"])
    if report.skipped:
        logger.warning(
            "chunk skipped: its job was given up on", extra={"job_id": report.job_id, "chunk": report.chunk}
        )
        metrics.add_metric(name="ChunksSkipped", unit=MetricUnit.Count, value=1)
        return
    if report.reason is not None:
        logger.error(
            "chunk failed; its items are recorded as failed",
            extra={"job_id": report.job_id, "chunk": report.chunk, "reason": report.reason, "delivery": deliveries},
        )
        metrics.add_metric(name="ChunksFailed", unit=MetricUnit.Count, value=1)
    times = report.times
    logger.info(
        "chunk done",
        extra={"job_id": report.job_id, "chunk": report.chunk, "succeeded": report.succeeded,
               "failed": report.failed, "duplicate": report.duplicate, "job_status": report.job_status,
               "hf_seconds": round(times.hf_seconds, 3), "dynamo_seconds": round(times.dynamo_seconds, 3),
               "cpu_seconds": round(times.cpu_seconds, 3), "total_seconds": round(times.total_seconds, 3)},
    )
    metrics.add_metric(name="VectorsStored", unit=MetricUnit.Count, value=report.succeeded)
    metrics.add_metric(name="ItemsFailed", unit=MetricUnit.Count, value=report.failed)
    # Where a chunk's time goes, so a slow job says whether HF, DynamoDB or the worker held it up.
    metrics.add_metric(name="ChunkHfSeconds", unit=MetricUnit.Seconds, value=times.hf_seconds)
    metrics.add_metric(name="ChunkDynamoSeconds", unit=MetricUnit.Seconds, value=times.dynamo_seconds)
    metrics.add_metric(name="ChunkCpuSeconds", unit=MetricUnit.Seconds, value=times.cpu_seconds)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """An SQS batch in, the batch item failures out (only those records come back)."""
    clock = BatchClock(records_left=max(1, len(event.get("Records") or [])))
    handler = partial(record_handler, clock=clock)
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
