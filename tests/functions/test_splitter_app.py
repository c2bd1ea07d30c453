"""The splitter function: split queue records in, file job splitting called, failures reported back.

Records are real SQS events from the template's split queue in moto, carrying S3's own
notifications of uploads to the template's files bucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.functions import load_function
from local.lambda_context import LocalContext
from local.sqs_event_source import sqs_record
from local.template_stack import DeployedStack
from vectorizer.config import ModuleConfig
from vectorizer.files.file_job_store import AWAITING_UPLOAD, FileJobState
from vectorizer.jobs.job_store import JOB_SK, open_shard
from vectorizer.jobs.message import ChunkMessage

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def splitter(stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in stack.environment("SplitterFunction").items():
        monkeypatch.setenv(name, value)
    from vectorizer.settings import current_settings

    current_settings.cache_clear()
    module = load_function("splitter")
    yield module
    current_settings.cache_clear()


@pytest.fixture
def env(stack: DeployedStack) -> dict[str, str]:
    return stack.environment("SplitterFunction")


def _receive(queue_url: str) -> list[dict[str, Any]]:
    sqs, messages = boto3.client("sqs"), []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        if not got.get("Messages"):
            return messages
        messages += got["Messages"]


def _invoke(splitter: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    event = {"Records": [sqs_record(m, "arn:aws:sqs:us-east-1:123456789012:SplitQueue", "us-east-1")
                         for m in messages]}
    return splitter.lambda_handler(event, LocalContext("SplitterFunction", 900))


def _awaited_upload(env: dict[str, str], job_id: str, lines: int) -> None:
    """A file job as the API leaves it (job record + file state awaiting its upload), then the upload."""
    from vectorizer.files.file_job_store import FileJobStore

    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName=env["JOBS_TABLE"], Item={
        "jobId": {"S": job_id}, "sk": {"S": JOB_SK}, "status": {"S": "queued"}, "origin": {"S": "api"},
        "signingKey": {"S": "k" * 64}, "chunksDone": {"N": "0"}, "succeeded": {"N": "0"}, "failed": {"N": "0"},
        "model": {"S": MODEL}, "createdAt": {"S": "2026-01-01T00:00:00Z"}, "updatedAt": {"S": "2026-01-01T00:00:00Z"},
        "openShard": {"S": open_shard(job_id)},
    })
    key = f"uploads/{job_id}/input.jsonl"
    FileJobStore(dynamodb, env["JOBS_TABLE"], 7).create(FileJobState(
        job_id=job_id, bucket=env["FILES_BUCKET"], key=key, file_format="jsonl",
        config=ModuleConfig(model=MODEL), phase=AWAITING_UPLOAD))
    body = "".join(json.dumps({"text": f"line {n}"}) + "\n" for n in range(lines))
    boto3.client("s3").put_object(Bucket=env["FILES_BUCKET"], Key=key, Body=body.encode())


def test_an_upload_notification_from_s3_splits_its_job_onto_the_work_queue(splitter: Any, env: dict[str, str]) -> None:
    _awaited_upload(env, "upload-job", 3)
    # S3's test event (sent when the notification was set) and the upload's own notification.
    messages = _receive(env["SPLIT_QUEUE_URL"])
    assert len(messages) == 2

    answer = _invoke(splitter, messages)

    assert answer == {"batchItemFailures": []}
    (chunk,) = [ChunkMessage.model_validate_json(m["Body"]) for m in _receive(env["WORK_QUEUE_URL"])]
    assert (chunk.job_id, chunk.chunk, [item.text for item in chunk.items]) == (
        "upload-job", 0, ["line 0", "line 1", "line 2"])


def test_an_unreadable_body_or_a_job_that_is_not_there_is_acknowledged_and_queues_nothing(
    splitter: Any, env: dict[str, str],
) -> None:
    sqs = boto3.client("sqs")
    _receive(env["SPLIT_QUEUE_URL"])  # S3's test event
    for body in ("not json", '{"jobId": "no-such-job"}', '{"unknown": 1}'):
        sqs.send_message(QueueUrl=env["SPLIT_QUEUE_URL"], MessageBody=body)

    answer = _invoke(splitter, _receive(env["SPLIT_QUEUE_URL"]))

    assert answer == {"batchItemFailures": []}
    assert _receive(env["WORK_QUEUE_URL"]) == []


def test_a_split_that_fails_for_a_passing_reason_is_reported_back_alone(
    splitter: Any, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    sqs = boto3.client("sqs")
    _receive(env["SPLIT_QUEUE_URL"])
    calls = []

    def continue_split(services: Any, job_id: str, deadline: float) -> None:
        calls.append(job_id)
        if job_id == "throttled":
            raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(splitter, "continue_split", continue_split)
    for job_id in ("throttled", "fine"):
        sqs.send_message(QueueUrl=env["SPLIT_QUEUE_URL"], MessageBody=json.dumps({"jobId": job_id}))
    messages = _receive(env["SPLIT_QUEUE_URL"])

    answer = _invoke(splitter, messages)

    throttled = next(m["MessageId"] for m in messages if "throttled" in m["Body"])
    assert answer == {"batchItemFailures": [{"itemIdentifier": throttled}]}
    assert sorted(calls) == ["fine", "throttled"]


def test_the_deadline_keeps_the_reserve_for_saving_and_continuing_and_never_falls_under_a_second(
    splitter: Any,
) -> None:
    assert splitter.split_deadline(900_000, now=100.0) == 100.0 + 900 - splitter.RESERVE_SECONDS
    assert splitter.split_deadline(10_000, now=100.0) == 101.0


def test_a_notification_key_is_decoded_as_s3_encodes_it(splitter: Any) -> None:
    from split_message import ContinueSplit, Ignore, SplitUploads, UploadedObject, read_split_message

    def record(event: str, key: str) -> dict[str, Any]:
        return {"eventName": event, "s3": {"bucket": {"name": "b"}, "object": {"key": key}}}

    body = {"Records": [record("ObjectCreated:Put", "uploads/my+job%21/input.csv"),
                        record("ObjectRemoved:Delete", "uploads/x/input.csv")]}
    assert read_split_message(json.dumps(body)) == SplitUploads(
        objects=(UploadedObject(bucket="b", key="uploads/my job!/input.csv"),))
    assert read_split_message('{"jobId": "j-1"}') == ContinueSplit(job_id="j-1")
    assert read_split_message('{"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}') == Ignore(
        reason="S3 test event")
