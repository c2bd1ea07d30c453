"""SendMessageBatch with at most 10 entries and `Failed` entries retried; the dead-letter queue."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from vectorizer.errors import VectorizerError
from vectorizer.jobs.work_queue import SEND_ATTEMPTS, SQS_BATCH_ENTRIES, ChunkQueue, plan_batches

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/work"
DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/dead"


class ScriptedSqs:
    """Answers each SendMessageBatch with the `Failed` entries `fail(call, entries)` names."""

    def __init__(self, fail: Any = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self._fail = fail or (lambda call, entries: [])

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(copy.deepcopy(kwargs))
        entries = kwargs["Entries"]
        assert 1 <= len(entries) <= 10
        assert len({e["Id"] for e in entries}) == len(entries)
        failed = self._fail(len(self.calls), entries)
        failed_ids = {f["Id"] for f in failed}
        answer: dict[str, Any] = {
            "Successful": [{"Id": e["Id"], "MessageId": "m", "MD5OfMessageBody": "x"} for e in entries
                           if e["Id"] not in failed_ids],
        }
        if failed:
            answer["Failed"] = failed
        return answer


def failure(entry: dict[str, Any], sender: bool = False, message: str = "Internal error") -> dict[str, Any]:
    return {"Id": entry["Id"], "SenderFault": sender, "Code": "InternalError", "Message": message}


def entries_of(call: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["Id"], e["MessageBody"]) for e in call["Entries"]]


def queue(sqs: Any, max_batch_bytes: int = 900_000) -> ChunkQueue:
    return ChunkQueue(sqs, QUEUE, DLQ, max_batch_bytes, pause=0.0)


# ------------------------------------------------------------------ planning


def test_constants() -> None:
    assert (SQS_BATCH_ENTRIES, SEND_ATTEMPTS) == (10, 5)


def test_plan_batches_holds_at_most_ten_entries() -> None:
    assert plan_batches([f"b{i}" for i in range(25)], 1_000_000) == [
        list(range(10)), list(range(10, 20)), list(range(20, 25))
    ]
    assert plan_batches([], 1000) == []


def test_plan_batches_holds_the_byte_limit_in_utf8() -> None:
    bodies = ["é" * 200] * 5  # 400 bytes each
    assert plan_batches(bodies, 1000) == [[0, 1], [2, 3], [4]]
    assert plan_batches(["a" * 500, "b" * 500, "c"], 1000) == [[0, 1], [2]]


def test_a_body_larger_than_the_limit_goes_alone() -> None:
    assert plan_batches(["x" * 50, "y" * 5000, "z" * 50], 1000) == [[0], [1], [2]]


# ------------------------------------------------------------------ sending


def test_send_uses_batches_of_ten_with_ids_and_bodies() -> None:
    sqs = ScriptedSqs()
    bodies = [json.dumps({"chunk": i}) for i in range(23)]
    queue(sqs).send(bodies)
    assert [call["QueueUrl"] for call in sqs.calls] == [QUEUE] * 3
    assert [len(call["Entries"]) for call in sqs.calls] == [10, 10, 3]
    sent = [entry for call in sqs.calls for entry in entries_of(call)]
    assert sent == [(str(i), bodies[i]) for i in range(23)]


def test_failed_entries_are_sent_again_and_only_they() -> None:
    sqs = ScriptedSqs(lambda call, entries: [failure(e) for e in entries if e["Id"] in {"2", "7"}] if call == 1 else [])
    bodies = [f"body-{i}" for i in range(12)]
    queue(sqs).send(bodies)
    assert [entries_of(call) for call in sqs.calls] == [
        [(str(i), f"body-{i}") for i in range(10)],
        [("2", "body-2"), ("7", "body-7")],
        [("10", "body-10"), ("11", "body-11")],
    ]


def test_entries_that_keep_failing_are_retried_until_they_pass() -> None:
    sqs = ScriptedSqs(lambda call, entries: [failure(entries[0])] if call <= SEND_ATTEMPTS - 1 else [])
    queue(sqs).send(["a", "b", "c"])
    assert len(sqs.calls) == SEND_ATTEMPTS
    assert [len(call["Entries"]) for call in sqs.calls] == [3, 1, 1, 1, 1]


def test_entries_still_failing_after_the_last_attempt_raise_503() -> None:
    sqs = ScriptedSqs(lambda call, entries: [failure(e, message="Service busy") for e in entries])
    with pytest.raises(VectorizerError) as caught:
        queue(sqs).send(["a", "b"])
    error = caught.value
    assert (error.status, error.code) == (503, "queue_unavailable")
    assert error.message == "the work queue refused 2 chunk message(s): Service busy"
    assert len(sqs.calls) == SEND_ATTEMPTS


def test_sender_fault_is_not_retried() -> None:
    sqs = ScriptedSqs(lambda call, entries: [
        failure(entries[0]), failure(entries[1], sender=True, message="Message must be shorter than 1048576 bytes"),
    ])
    with pytest.raises(VectorizerError) as caught:
        queue(sqs).send(["a", "b", "c"])
    assert caught.value.message == (
        "the work queue refused 2 chunk message(s): Message must be shorter than 1048576 bytes"
    )
    assert caught.value.status == 503
    assert len(sqs.calls) == 1


def test_with_botocore_stubber_the_calls_fit_the_real_api(aws_env: None) -> None:
    client = boto3.client("sqs", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
             "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]},
            {"QueueUrl": QUEUE, "Entries": [{"Id": "0", "MessageBody": "zero"}, {"Id": "1", "MessageBody": "one"}]},
        )
        stub.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "1", "MessageId": "m1", "MD5OfMessageBody": "x"}], "Failed": []},
            {"QueueUrl": QUEUE, "Entries": [{"Id": "1", "MessageBody": "one"}]},
        )
        queue(client).send(["zero", "one"])
        stub.assert_no_pending_responses()


# ------------------------------------------------------------------ on moto


@pytest.fixture
def sqs_queues(aws: None) -> tuple[Any, str, str]:
    sqs = boto3.client("sqs")
    work = sqs.create_queue(QueueName="work")["QueueUrl"]
    dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
    return sqs, work, dead


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if not answer.get("Messages"):
            return messages
        messages.extend(answer["Messages"])
        for message in answer["Messages"]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_every_body_reaches_the_work_queue(sqs_queues: tuple[Any, str, str]) -> None:
    sqs, work, dead = sqs_queues
    bodies = [json.dumps({"jobId": "j", "chunk": i}) for i in range(23)]
    ChunkQueue(sqs, work, dead, 900_000, pause=0.0).send(bodies)
    assert sorted(m["Body"] for m in receive_all(sqs, work)) == sorted(bodies)
    assert receive_all(sqs, dead) == []


def test_dead_letter_parks_the_body_with_its_reason(sqs_queues: tuple[Any, str, str]) -> None:
    sqs, work, dead = sqs_queues
    ChunkQueue(sqs, work, dead, 900_000).dead_letter('{"jobId": "bad"}', "items.0.text: Field required")
    messages = receive_all(sqs, dead)
    assert len(messages) == 1
    assert messages[0]["Body"] == '{"jobId": "bad"}'
    assert messages[0]["MessageAttributes"] == {
        "reason": {"DataType": "String", "StringValue": "items.0.text: Field required"}
    }
    assert receive_all(sqs, work) == []


def test_dead_letter_reason_is_capped(sqs_queues: tuple[Any, str, str]) -> None:
    sqs, work, dead = sqs_queues
    ChunkQueue(sqs, work, dead, 900_000).dead_letter("body", "r" * 5000)
    [message] = receive_all(sqs, dead)
    assert message["MessageAttributes"]["reason"]["StringValue"] == "r" * 1000
