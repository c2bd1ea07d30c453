"""Sending chunk messages to the work queue, and unusable ones to the dead-letter queue."""

from __future__ import annotations

import time
from typing import Any

from vectorizer.errors import VectorizerError
from vectorizer.packing import pack

SQS_BATCH_ENTRIES = 10
SEND_ATTEMPTS = 5


def plan_batches(bodies: list[str], max_batch_bytes: int) -> list[list[int]]:
    """Group message indexes into SendMessageBatch calls: <= 10 entries, <= the size limit.

    Takes the message bodies and the byte limit of one call; returns lists of body indexes, in
    order. A body alone over the limit still gets a call of its own.
    """
    sizes = [len(body.encode("utf-8")) for body in bodies]
    return pack(sizes, max_count=SQS_BATCH_ENTRIES, max_bytes=max_batch_bytes)


class ChunkQueue:
    """The work queue and its dead-letter queue, through a boto3 SQS client.

    Takes the client, both queue URLs, the byte limit of one SendMessageBatch call and the pause
    (seconds, times the attempt number) before sending failed entries again.
    """

    def __init__(
        self, sqs_client: Any, queue_url: str, dead_letter_url: str, max_batch_bytes: int,
        pause: float = 0.2,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._dead_letter_url = dead_letter_url
        self._max_batch_bytes = max_batch_bytes
        self._pause = pause

    def send(self, bodies: list[str]) -> None:
        """Send every body; entries SQS reports as `Failed` inside a 200 are sent again.

        Returns nothing. Raises VectorizerError 503 `queue_unavailable` on a sender fault, or
        when entries still fail after SEND_ATTEMPTS.
        """
        for batch in plan_batches(bodies, self._max_batch_bytes):
            pending = {str(index): bodies[index] for index in batch}
            for attempt in range(1, SEND_ATTEMPTS + 1):
                answer = self._sqs.send_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[{"Id": key, "MessageBody": body} for key, body in pending.items()],
                )
                failed = answer.get("Failed", [])
                if not failed:
                    break
                sender_faults = [entry for entry in failed if entry.get("SenderFault")]
                if sender_faults or attempt == SEND_ATTEMPTS:
                    reason = (sender_faults or failed)[0].get("Message", "unknown reason")
                    raise VectorizerError(
                        f"the work queue refused {len(failed)} chunk message(s): {reason}",
                        status=503, code="queue_unavailable",
                    )
                pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
                time.sleep(self._pause * attempt)

    def dead_letter(self, body: str, reason: str) -> None:
        """Park a message no retry can fix, with the reason beside it, instead of looping on it.

        Takes the message body and the reason, sent as its `reason` attribute (cut to 1,000
        characters); returns nothing.
        """
        self._sqs.send_message(
            QueueUrl=self._dead_letter_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
        )
