"""Worker function: SQS batches of chunk messages to vectorizer chunk processing.

Each record is one chunk. A record that fails for a passing reason is reported back to SQS as a
batch item failure, so only it is delivered again; a record that can never succeed (it does not
fit the message schema, or its config is refused) is parked on the dead-letter queue with its
reason, once, instead of looping until maxReceiveCount.
"""

from __future__ import annotations

import time
from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from vectorizer.errors import VectorizerError
from vectorizer.jobs import ChunkRetryLater, process_chunk
from vectorizer.messages import ChunkMessage
from vectorizer.request_errors import describe_validation_errors
from vectorizer.services import Services, build_services

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

# Time kept back from the HF calls for the DynamoDB writes that follow them.
WRITE_RESERVE_SECONDS = 15.0

_context: LambdaContext | None = None


@cache
def services() -> Services:
    return build_services()


def _deadline() -> float:
    remaining = _context.get_remaining_time_in_millis() / 1000 if _context else 60.0
    return time.monotonic() + max(1.0, remaining - WRITE_RESERVE_SECONDS)


def _park(record: SQSRecord, reason: str) -> None:
    logger.error(
        "chunk message parked on the dead-letter queue", extra={"reason": reason, "message_id": record.message_id}
    )
    services().queue.dead_letter(record.body, reason)
    metrics.add_metric(name="MessagesDeadLettered", unit=MetricUnit.Count, value=1)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    try:
        message = ChunkMessage.model_validate_json(record.body)
    except ValidationError as error:
        _park(record, describe_validation_errors(error.errors(include_input=False)).message)
        return
    deliveries = int(record.attributes.approximate_receive_count or 1)
    final_attempt = deliveries >= services().settings.max_receive_count
    logger.append_keys(job_id=message.job_id, chunk=message.chunk)
    try:
        report = process_chunk(services(), message, final_attempt=final_attempt, deadline=_deadline())
    except ChunkRetryLater as retry:
        logger.warning("chunk will be retried", extra={"reason": retry.error.message, "delivery": deliveries})
        metrics.add_metric(name="ChunksRetried", unit=MetricUnit.Count, value=1)
        raise
    except VectorizerError as error:
        if error.status >= 500:
            raise
        _park(record, error.message)
        return
    finally:
        logger.remove_keys(["job_id", "chunk"])
    logger.info(
        "chunk done",
        extra={"job_id": report.job_id, "chunk": report.chunk, "succeeded": report.succeeded,
               "failed": report.failed, "duplicate": report.duplicate, "job_status": report.job_status},
    )
    metrics.add_metric(name="VectorsStored", unit=MetricUnit.Count, value=report.succeeded)
    metrics.add_metric(name="ItemsFailed", unit=MetricUnit.Count, value=report.failed)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    global _context
    _context = context
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
