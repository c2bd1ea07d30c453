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

The records of one invocation are worked side by side, one thread each, all submitting their
HF calls to the container's one event loop (`vectorizer.aio`), so they share one pooled HTTP
client and one AIMD limit on HF requests in flight: a batch of slow chunks takes about the time
of one, and the container never has more than `HF_CONCURRENCY` requests out. Each record may
use all the time the invocation has left, less a reserve for its writes. Powertools then walks
the records as usual, and its record handler only reports each record's stored outcome, so the
batch item failures are what they were when records ran one after another.

Concurrent records share the logger: its appended keys would leak from one record's log lines
into another's, so the job and chunk ride on each line as `extra`. Metrics go through a lock,
for Powertools' metric set is not safe to add to from several threads.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from vectorizer import aio
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


_metrics_lock = threading.Lock()


@cache
def services() -> Services:
    built = build_services()
    if hasattr(built.hf, "hold_writes"):
        # Cache writes wait for the end of the invocation: a chunk's own writes go first.
        built.hf.hold_writes = True
    return built


def record_seconds(remaining_seconds: float, reserve_seconds: float = WRITE_RESERVE_SECONDS) -> float:
    """Seconds each record may spend on HF calls: the invocation's time left, less the write reserve.

    Takes the invocation's remaining seconds (and the reserve); records run side by side, so
    each gets the whole of it, not a share. Never less than one second, so a late record still
    gets a try.
    """
    return max(1.0, remaining_seconds - reserve_seconds)


def _metric(name: str, unit: MetricUnit, value: float) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=unit, value=value)


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


def _park(record: SQSRecord, reason: str, keys: dict[str, Any] | None = None) -> None:
    body, dropped = _known_keys_only(record.body)
    if dropped:
        listed = ", ".join(dropped[:10]) + (f" (and {len(dropped) - 10} more)" if len(dropped) > 10 else "")
        reason = f"{reason} [unknown keys removed before parking: {listed}]"
    logger.error(
        "chunk message parked on the dead-letter queue",
        extra={**(keys or {}), "reason": reason, "message_id": record.message_id},
    )
    services().queue.dead_letter(body, reason)
    _metric("MessagesDeadLettered", MetricUnit.Count, 1)


def _handed_back(message: ChunkMessage, error: Exception, deliveries: int, final_attempt: bool) -> None:
    """Say why a chunk goes back to SQS: on its last delivery, it goes on to the dead-letter queue."""
    details = {"job_id": message.job_id, "chunk": message.chunk, "reason": failure_text(error), "delivery": deliveries}
    if final_attempt:
        logger.error("chunk could not be recorded on its last delivery; it goes to the dead-letter queue",
                     extra=details)
        _metric("ChunksDeadLettered", MetricUnit.Count, 1)
    else:
        logger.warning("chunk will be retried", extra=details)
        _metric("ChunksRetried", MetricUnit.Count, 1)


def work_records(records: list[dict[str, Any]], deadline: float) -> dict[str, BaseException | None]:
    """Work every record of a batch at once, one thread each, before `deadline` (`time.monotonic()`).

    Takes the event's raw records; returns, by message id, what each record's work raised
    (None when it succeeded), for `record_handler` to report.
    """
    if not records:
        return {}
    services()  # built here, once: threads racing to build it would each get their own HF limit
    with ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="record") as pool:
        work = {SQSRecord(raw).message_id: pool.submit(_work, SQSRecord(raw), deadline) for raw in records}
    _drain_cache_writes()
    return {message_id: future.exception() for message_id, future in work.items()}


def _drain_cache_writes() -> None:
    """Fill the content cache with what the invocation's chunks learnt, and let the writes end
    before the invocation does (a frozen container would hold them): a chunk is counted without
    waiting for them, and its own vector writes never queue behind them."""
    drain = getattr(services().hf, "drain", None)
    if drain is not None:
        aio.run(drain())


@tracer.capture_method
def _work(record: SQSRecord, deadline: float) -> None:
    try:
        _handle(record, deadline)
    finally:
        limit = services().hf.concurrency_limit
        if limit is not None:
            # Where the container's HF budget stands after the record: low means HF pushed back.
            _metric("HfConcurrencyLimit", MetricUnit.Count, limit)


def record_handler(record: SQSRecord, outcomes: dict[str, BaseException | None]) -> None:
    """Report one record's outcome, already worked by `work_records`; raises its error to hand it back.

    Powertools passes `record`; the invocation binds the `outcomes` of its records by message id.
    """
    error = outcomes.get(record.message_id)
    if error is not None:
        raise error


def _handle(record: SQSRecord, deadline: float) -> None:
    try:
        message = ChunkMessage.model_validate_json(record.body)
    except ValidationError as error:
        _park(record, describe_validation_errors(error.errors(include_input=False)).message)
        return
    deliveries = int(record.attributes.approximate_receive_count or 1)
    final_attempt = deliveries >= services().settings.max_receive_count
    keys = {"job_id": message.job_id, "chunk": message.chunk}
    try:
        report = process_chunk(services(), message, final_attempt=final_attempt, deadline=deadline)
    except ChunkRetryLater as retry:
        logger.warning("chunk will be retried", extra={**keys, "reason": retry.error.message, "delivery": deliveries})
        _metric("ChunksRetried", MetricUnit.Count, 1)
        raise
    except VectorizerError as error:
        if error.status >= 500:
            _handed_back(message, error, deliveries, final_attempt)
            raise
        _park(record, error.message, keys)
        return
    except Exception as error:
        _handed_back(message, error, deliveries, final_attempt)
        raise
    if report.skipped:
        logger.warning(
            "chunk skipped: its job was given up on", extra={"job_id": report.job_id, "chunk": report.chunk}
        )
        _metric("ChunksSkipped", MetricUnit.Count, 1)
        return
    if report.reason is not None:
        logger.error(
            "chunk failed; its items are recorded as failed",
            extra={"job_id": report.job_id, "chunk": report.chunk, "reason": report.reason, "delivery": deliveries},
        )
        _metric("ChunksFailed", MetricUnit.Count, 1)
    times = report.times
    usage = report.usage
    logger.info(
        "chunk done",
        extra={"job_id": report.job_id, "chunk": report.chunk, "succeeded": report.succeeded,
               "failed": report.failed, "duplicate": report.duplicate, "job_status": report.job_status,
               "hf_seconds": round(times.hf_seconds, 3), "dynamo_seconds": round(times.dynamo_seconds, 3),
               "cpu_seconds": round(times.cpu_seconds, 3), "total_seconds": round(times.total_seconds, 3),
               "texts": usage.texts, "cache_hits": usage.cache_hits, "hf_texts_sent": usage.sent,
               "hf_requests": usage.requests, "hf_requests_saved": usage.requests_saved},
    )
    _metric("VectorsStored", MetricUnit.Count, report.succeeded)
    _metric("ItemsFailed", MetricUnit.Count, report.failed)
    # Where a chunk's time goes, so a slow job says whether HF, DynamoDB or the worker held it up.
    _metric("ChunkHfSeconds", MetricUnit.Seconds, times.hf_seconds)
    _metric("ChunkDynamoSeconds", MetricUnit.Seconds, times.dynamo_seconds)
    _metric("ChunkCpuSeconds", MetricUnit.Seconds, times.cpu_seconds)
    # What HF was asked, and what the content cache and the dedupe spared it.
    for name, value in usage.metric_counts().items():
        _metric(name, MetricUnit.Count, value)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """An SQS batch in, the batch item failures out (only those records come back)."""
    deadline = time.monotonic() + record_seconds(context.get_remaining_time_in_millis() / 1000)
    outcomes = work_records(event.get("Records") or [], deadline)
    handler = partial(record_handler, outcomes=outcomes)
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
