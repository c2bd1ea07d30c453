"""No job stays open because a chunk died on the queue; a redriven chunk that succeeds counts right.

The template's resources in moto, the real handlers fed by real SQS events: the worker from the
work queue, the dead-letter consumer from the dead-letter queue (as the local stack feeds them).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.functions import load_function
from local.lambda_context import LocalContext
from local.sqs_event_source import SqsEventSource
from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.function_harness import Harness
from tests.integration.test_bulk_job import adopt, all_vectors, corpus, submit
from vectorizer.settings import current_settings

LIMIT = "delivery limit reached after 5 deliveries"


class DeadLetters:
    """DeadLetterFunction, loaded as Lambda loads it, fed from the dead-letter queue."""

    def __init__(self, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
        env = harness.stack.environment("DeadLetterFunction")
        monkeypatch.setenv("PARKED_CHUNKS_QUEUE_URL", env["PARKED_CHUNKS_QUEUE_URL"])
        current_settings.cache_clear()
        self.parked_url = env["PARKED_CHUNKS_QUEUE_URL"]
        self.module = load_function("dead_letter")
        arn = harness.sqs.get_queue_attributes(QueueUrl=harness.dead_letter_url, AttributeNames=["QueueArn"])
        self.source = SqsEventSource(
            harness.sqs, harness.dead_letter_url, arn["Attributes"]["QueueArn"],
            lambda event: self.module.lambda_handler(event, LocalContext("DeadLetterFunction", 60)),
            batch_size=10, redelivery_delay_seconds=0,
        )

    def parked(self, sqs: Any) -> list[tuple[str, str | None]]:
        answer = sqs.receive_message(QueueUrl=self.parked_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        return [(m["Body"], m.get("MessageAttributes", {}).get("reason", {}).get("StringValue"))
                for m in answer.get("Messages", [])]


def job(harness: Harness, job_id: str) -> dict:
    adopt(harness, job_id)
    answer = harness.api("GET", f"/jobs/{job_id}")
    assert answer.status == 200, answer.body
    return answer.body


def queue_counts(harness: Harness, url: str) -> tuple[str, str]:
    attributes = harness.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]


def marker(harness: Harness, job_id: str, chunk: int) -> dict:
    return boto3.client("dynamodb").get_item(
        TableName=harness.stack.environment("WorkerFunction")["JOBS_TABLE"],
        Key={"jobId": {"S": job_id}, "sk": {"S": f"chunk#{chunk:06d}"}},
    )["Item"]


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    """Each log record with its extra keys, as the JSON line Powertools writes would hold them."""
    return [{**vars(record), "level": record.levelname, "message": record.getMessage()} for record in caplog.records]


def test_a_chunk_whose_counting_is_throttled_on_every_delivery_is_closed_by_the_dead_letter_queue(
    harness: Harness, fake_hf, monkeypatch, capfd, caplog
) -> None:
    caplog.set_level("INFO")
    accepted = submit(harness, corpus(5), mode="async")

    def throttled(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "TransactWriteItems")

    monkeypatch.setattr(harness.worker_module.services().jobs, "count_chunk", throttled)
    harness.run_worker_until_idle()
    harness.worker_source.poll_once()  # the receive on which SQS moves it to the dead-letter queue
    # The first delivery fills the content cache; the four redeliveries answer from it.
    assert fake_hf.observed.requests == 1
    assert queue_counts(harness, harness.queue_url) == ("0", "0")

    dead = DeadLetters(harness, monkeypatch)
    assert len(dead.source.drain()) == 1

    record = job(harness, accepted["jobId"])
    # Every vector was stored on each delivery: the chunk counts them, nothing is failed.
    assert (record["status"], record["succeeded"], record["failed"], record["errors"]) == ("succeeded", 5, 0, [])
    assert len(all_vectors(harness, accepted["jobId"])) == 5
    assert (marker(harness, accepted["jobId"], 0)["closedBy"]["S"],
            marker(harness, accepted["jobId"], 0)["succeeded"]["N"]) == ("dead-letter", "5")
    [(body, reason)] = dead.parked(harness.sqs)
    assert (json.loads(body)["jobId"], reason) == (accepted["jobId"], LIMIT)
    assert queue_counts(harness, harness.dead_letter_url) == ("0", "0")

    out, err = capfd.readouterr()
    lines = log_lines(caplog)
    handed_back = [line for line in lines if line.get("message", "").startswith(("chunk will be retried",
                                                                                 "chunk could not be recorded"))]
    assert [(line["level"], line["job_id"], line["chunk"], line["delivery"]) for line in handed_back] == (
        [("WARNING", accepted["jobId"], 0, n) for n in range(1, 5)] + [("ERROR", accepted["jobId"], 0, 5)])
    assert {line["reason"] for line in handed_back} == {"TransactWriteItems failed: ThrottlingException Rate exceeded"}
    [recorded] = [line for line in lines if line.get("message", "").startswith("dead chunk recorded")]
    assert (recorded["job_id"], recorded["chunk"], recorded["reason"], recorded["succeeded"]) == (
        accepted["jobId"], 0, LIMIT, 5)
    for token in (CALLER_TOKEN, DEFAULT_TOKEN):
        assert token not in out + err + body


def killed_every_time(event: dict) -> dict:
    raise RuntimeError("Task timed out after 300.00 seconds")


def test_a_chunk_whose_worker_dies_on_every_delivery_fails_its_items_and_a_redrive_then_stores_them(
    harness: Harness, fake_hf, monkeypatch
) -> None:
    accepted = submit(harness, corpus(5), mode="async")
    killing = SqsEventSource(harness.sqs, harness.queue_url, "arn:aws:sqs:us-east-1:123456789012:work",
                             killed_every_time, batch_size=10, redelivery_delay_seconds=0)
    for _ in range(6):
        killing.poll_once()
    dead = DeadLetters(harness, monkeypatch)
    dead.source.drain()

    record = job(harness, accepted["jobId"])
    assert (record["status"], record["succeeded"], record["failed"]) == ("failed", 0, 5)
    assert record["errors"] == [{"index": i, "id": f"doc-{i}", "error": LIMIT} for i in range(5)]
    [(body, reason)] = dead.parked(harness.sqs)
    assert reason == LIMIT

    # The operator redrives ParkedChunksQueue to the work queue (start-message-move-task moves the body as is).
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=body)
    harness.run_worker_until_idle()

    record = job(harness, accepted["jobId"])
    assert (record["status"], record["succeeded"], record["failed"], record["errors"]) == ("succeeded", 5, 0, [])
    assert [item["index"] for item in all_vectors(harness, accepted["jobId"])] == [0, 1, 2, 3, 4]
    counted = marker(harness, accepted["jobId"], 0)
    assert (counted["closedBy"]["S"], counted["succeeded"]["N"], counted["failed"]["N"]) == ("worker", "5", "0")
    # A second copy of the same dead message changes nothing.
    harness.sqs.send_message(QueueUrl=harness.dead_letter_url, MessageBody=body)
    dead.source.drain()
    again = job(harness, accepted["jobId"])
    assert (again["status"], again["succeeded"], again["failed"], again["errors"]) == ("succeeded", 5, 0, [])
