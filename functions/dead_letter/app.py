"""Dead-letter consumer function: SQS batches from the dead-letter queue to `jobs.dead_letters`.

Each record is one dead message. Its `reason` attribute (set when the worker parked it; absent
when SQS moved it after the work queue's maxReceiveCount) goes with it. A chunk its job takes
is recorded (its items without a vector failed with the reason, the chunk counted once, the job
closed if complete); anything else is only logged. Then a copy goes to ParkedChunksQueue for the
operator, and the record is acknowledged. A record whose recording fails (DynamoDB throttled) is
reported back, so the dead-letter queue delivers it again; after its own maxReceiveCount, SQS
moves it to ParkedChunksQueue as it is.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.jobs.dead_letters import IGNORED, RECORDED, consume_dead_letter
from vectorizer.jobs.service import failure_text
from vectorizer.jobs.work_queue import ChunkQueue
from vectorizer.services import LazyTracer, Services, aws_client, build_services

logger = Logger()
tracer = LazyTracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def services() -> Services:
    return build_services()


@cache
def parking() -> ChunkQueue:
    """ParkedChunksQueue, as the dead-letter side of a `ChunkQueue` (only `dead_letter` is used)."""
    settings = services().settings
    return ChunkQueue(
        aws_client("sqs"), settings.dead_letter_queue_url, settings.parked_chunks_queue_url,
        settings.max_message_bytes,
    )


def _reason(record: SQSRecord) -> str | None:
    attribute = (record.get("messageAttributes") or {}).get("reason") or {}
    return attribute.get("stringValue") or None


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    """Record one dead message and park a copy of it; raises to have it delivered again."""
    try:
        report = consume_dead_letter(services(), parking(), record.body, reason=_reason(record))
    except Exception as error:
        logger.error("dead message could not be recorded; it will be delivered again",
                     extra={"message_id": record.message_id, "reason": failure_text(error)})
        raise
    details = {"job_id": report.job_id, "chunk": report.chunk, "reason": report.reason,
               "message_id": record.message_id}
    if report.outcome == IGNORED:
        logger.warning("dead message parked without recording: its job does not take it",
                       extra={**details, "refused": report.refused})
        metrics.add_metric(name="DeadMessagesIgnored", unit=MetricUnit.Count, value=1)
    elif report.outcome == RECORDED:
        logger.error("dead chunk recorded: its items without a vector failed with the reason",
                     extra={**details, "succeeded": report.succeeded, "failed": report.failed,
                            "job_status": report.job_status})
        metrics.add_metric(name="DeadChunksRecorded", unit=MetricUnit.Count, value=1)
    else:
        logger.info("dead chunk was recorded already; parked again", extra=details)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """An SQS batch from the dead-letter queue in, the batch item failures out."""
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
