"""An SQS event source mapping, as Lambda runs one: poll, invoke with a batch, delete what succeeded.

Messages a handler reports in `batchItemFailures` stay on the queue and come back once their
visibility timeout ends; a handler that raises leaves the whole batch there. SQS itself counts
the receives and moves a message to the dead-letter queue after `maxReceiveCount`, so the
redrive behaves as it does in AWS.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SQS_MAX_RECEIVE = 10
Invoke = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass(frozen=True)
class PollResult:
    received: int
    succeeded: int
    failed: int
    crashed: bool = False


def _message_attributes(message: dict[str, Any]) -> dict[str, Any]:
    converted = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return converted


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, built from a ReceiveMessage answer."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": _message_attributes(message),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsEventSource:
    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        *,
        batch_size: int = 10,
        batching_window_seconds: float = 0.0,
        region: str = "us-east-1",
        redelivery_delay_seconds: int | None = None,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._invoke = invoke
        self._batch_size = batch_size
        self._window = batching_window_seconds
        self._region = region
        # Locally, waiting out a 30-minute visibility timeout helps nobody: a reported failure
        # may be made visible again sooner. None keeps the queue's own timeout, as in AWS.
        self._redelivery_delay = redelivery_delay_seconds

    def _receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self._window
        while len(messages) < self._batch_size:
            answer = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_MAX_RECEIVE, self._batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds if not messages else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = answer.get("Messages", [])
            messages.extend(got)
            if not got or time.monotonic() >= window_ends:
                break
        return messages

    def poll_once(self, wait_seconds: int = 0) -> PollResult:
        messages = self._receive(wait_seconds)
        if not messages:
            return PollResult(0, 0, 0)
        event = {"Records": [sqs_record(m, self._queue_arn, self._region) for m in messages]}
        try:
            result = self._invoke(event) or {}
        except Exception:
            # An invocation error: Lambda deletes nothing and the whole batch comes back.
            self._release(messages)
            return PollResult(len(messages), 0, len(messages), crashed=True)
        failed_ids = {entry["itemIdentifier"] for entry in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), SQS_MAX_RECEIVE):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                         for i, m in enumerate(done[start:start + SQS_MAX_RECEIVE])],
            )
        self._release([m for m in messages if m["MessageId"] in failed_ids])
        return PollResult(len(messages), len(done), len(messages) - len(done))

    def _release(self, messages: list[dict[str, Any]]) -> None:
        if self._redelivery_delay is None:
            return
        for message in messages:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self._redelivery_delay,
            )

    def drain(self, *, max_polls: int = 10_000) -> list[PollResult]:
        """Poll until the queue answers empty (tests and one-shot runs)."""
        results = []
        for _ in range(max_polls):
            result = self.poll_once(wait_seconds=0)
            if result.received == 0:
                break
            results.append(result)
        return results

    def run_forever(self, stop: threading.Event, wait_seconds: int = 1) -> None:
        while not stop.is_set():
            try:
                self.poll_once(wait_seconds=wait_seconds)
            except Exception as error:
                if stop.is_set():
                    break
                # The queue went away or hiccupped: say so (never silently), then try again shortly.
                print(f"event source: polling {self._queue_url} failed: {type(error).__name__}: {error}",
                      file=sys.stderr, flush=True)
                time.sleep(1.0)
