"""Splitter function: split queue messages to file job splitting (`vectorizer.files.service`).

Each record is an S3 notification of uploaded objects (each one's job is split from the start)
or `{"jobId"}` (start or continue that job's splitting). The splitting runs until it is done or
the deadline (the invocation's remaining time less `RESERVE_SECONDS`, kept for saving the cursor
and queueing the continuation); unfinished, the service sends `{"jobId"}` back to the split
queue and the next invocation goes on. A record that fails for a passing reason (S3 or DynamoDB
throttled) is reported back as a batch item failure, so SQS delivers it again, and after
MaxReceiveCount moves it to the split dead-letter queue. An unreadable body is logged and
acknowledged: no retry can fix it.
"""

from __future__ import annotations

import time
from functools import cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from split_message import ContinueSplit, Ignore, SplitUploads, UnreadableMessage, read_split_message

from vectorizer.files.service import SplitOutcome, continue_split, split_upload
from vectorizer.jobs.service import failure_text
from vectorizer.services import LazyTracer, Services, build_services

logger = Logger()
tracer = LazyTracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

# Time kept back from splitting for what follows a step: the cursor saved, {"jobId"} queued.
RESERVE_SECONDS = 30.0


@cache
def services() -> Services:
    return build_services()


def split_deadline(remaining_millis: int, now: float, reserve_seconds: float = RESERVE_SECONDS) -> float:
    """The `time.monotonic()` by which splitting stops: `now` plus the invocation's remaining
    milliseconds less the reserve, and never less than one second from `now`."""
    return now + max(1.0, remaining_millis / 1000 - reserve_seconds)


def _report(outcome: SplitOutcome | None) -> None:
    """Log one split's outcome (the service logs why it ignored or failed one) and count it."""
    if outcome is None:
        return
    if outcome.outcome == "split":
        logger.info("file job split", extra={"job_id": outcome.job_id, "total": outcome.total,
                                             "chunks": outcome.chunks})
    elif outcome.outcome == "continued":
        logger.info("file job split continues in the next invocation", extra={"job_id": outcome.job_id})
    metrics.add_metric(name=f"Splits{outcome.outcome.capitalize()}", unit=MetricUnit.Count, value=1)


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Work one split queue record until done or the deadline; raises to have it delivered again.

    Powertools passes `record` and `lambda_context` (it looks for that parameter by name).
    """
    deadline = split_deadline(lambda_context.get_remaining_time_in_millis(), time.monotonic())
    try:
        request = read_split_message(record.body)
    except UnreadableMessage as error:
        logger.error("split message ignored: no retry can fix it",
                     extra={"message_id": record.message_id, "reason": str(error)})
        metrics.add_metric(name="SplitMessagesUnreadable", unit=MetricUnit.Count, value=1)
        return
    try:
        if isinstance(request, Ignore):
            logger.info("split message ignored", extra={"message_id": record.message_id, "reason": request.reason})
        elif isinstance(request, SplitUploads):
            for uploaded in request.objects:
                _report(split_upload(services(), uploaded.bucket, uploaded.key, deadline))
        elif isinstance(request, ContinueSplit):
            _report(continue_split(services(), request.job_id, deadline))
    except Exception as error:
        logger.warning("split message will be delivered again",
                       extra={"message_id": record.message_id, "reason": failure_text(error),
                              "delivery": record.attributes.approximate_receive_count})
        metrics.add_metric(name="SplitsRetried", unit=MetricUnit.Count, value=1)
        raise


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """An SQS batch from the split queue in (one record: BatchSize 1), the batch item failures out."""
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
