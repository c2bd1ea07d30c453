"""File job splitting on the template's own bucket, queues and jobs table, in moto.

An upload starts its job's split; a split that runs out of time continues itself through the
split queue; at the end the job record gets its total and chunk count, once, and the job closes
if its chunks were all counted already. What cannot be split is ignored or fails the job.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from local.template_stack import DeployedStack
from vectorizer.config import ModuleConfig
from vectorizer.files.cursor import SplitCursor
from vectorizer.files.file_job_store import AWAITING_UPLOAD, SPLIT, SPLITTING, FileJobState
from vectorizer.files.service import continue_split, job_of_upload, split_upload
from vectorizer.jobs.job_store import JOB_SK, open_shard
from vectorizer.jobs.message import ChunkMessage, signature_matches
from vectorizer.services import Services, build_services
from vectorizer.settings import settings_from

SIGNING_KEY = "k" * 64
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def services(stack: DeployedStack) -> Services:
    env = stack.environment("SplitterFunction")
    return build_services(settings_from({**env, "FILE_CHUNK_SIZE": "100"}))


def _api_job(services: Services, job_id: str) -> None:
    """The job record the API writes for a file job: open, signed, its counts not known yet."""
    boto3.client("dynamodb").put_item(TableName=services.settings.jobs_table, Item={
        "jobId": {"S": job_id}, "sk": {"S": JOB_SK}, "status": {"S": "queued"}, "origin": {"S": "api"},
        "signingKey": {"S": SIGNING_KEY}, "chunksDone": {"N": "0"}, "succeeded": {"N": "0"}, "failed": {"N": "0"},
        "model": {"S": MODEL}, "createdAt": {"S": "2026-01-01T00:00:00Z"}, "updatedAt": {"S": "2026-01-01T00:00:00Z"},
        "openShard": {"S": open_shard(job_id)},
    })


def _file_job(services: Services, job_id: str, *, phase: str = AWAITING_UPLOAD, key: str | None = None,
              bucket: str | None = None) -> tuple[str, str]:
    bucket = bucket or services.settings.files_bucket
    key = key or f"uploads/{job_id}/input.jsonl"
    _api_job(services, job_id)
    services.file_jobs.create(FileJobState(
        job_id=job_id, bucket=bucket, key=key, file_format="jsonl", config=ModuleConfig(model=MODEL),
        phase=phase, sealed_token="sealed-token-not-a-token"))
    return bucket, key


def _upload(services: Services, key: str, lines: int) -> None:
    body = "".join(json.dumps({"id": f"doc-{n}", "text": f"text number {n}"}) + "\n" for n in range(lines))
    boto3.client("s3").put_object(Bucket=services.settings.files_bucket, Key=key, Body=body.encode())


def _drain(queue_url: str) -> list[str]:
    sqs, bodies = boto3.client("sqs"), []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)])


def _job_item(services: Services, job_id: str) -> dict[str, Any]:
    return boto3.client("dynamodb").get_item(
        TableName=services.settings.jobs_table, Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}})["Item"]


def test_an_upload_key_names_its_job_and_no_other_key_does() -> None:
    assert job_of_upload("uploads/job-7/input.jsonl") == "job-7"
    assert job_of_upload("uploads/job-7/input.csv") == "job-7"
    assert [job_of_upload(k) for k in ("uploads/job-7/other.jsonl", "jobs/job-7/input.jsonl",
                                       "uploads/a/b/input.jsonl", "uploads/job-7/input.txt")] == [None] * 4


def test_a_5000_line_file_split_with_a_tiny_deadline_continues_itself_and_queues_every_item_exactly_once(
    services: Services,
) -> None:
    bucket, key = _file_job(services, "big-file-job")
    _upload(services, key, 5000)
    settings = services.settings

    # A deadline a step's first send of ten chunks (1,000 items) overruns: each step sends one
    # batch (or none, when the step began late) and continues. Bounded, so a slow machine fails
    # the test instead of hanging it.
    outcomes = [split_upload(services, bucket, key, time.monotonic() + 0.05).outcome]
    while outcomes[-1] == "continued" and len(outcomes) < 200:
        # The split queue also holds S3's own notifications (its test event, the upload's).
        continuations = [json.loads(b) for b in _drain(settings.split_queue_url) if "jobId" in json.loads(b)]
        assert continuations == [{"jobId": "big-file-job"}]
        outcomes.append(continue_split(services, "big-file-job", time.monotonic() + 0.05).outcome)

    assert outcomes[-1] == "split"
    assert len(outcomes) >= 3, outcomes  # the deadline cut the split at least twice
    messages = [ChunkMessage.model_validate_json(body) for body in _drain(settings.work_queue_url)]
    assert sorted(m.chunk for m in messages) == list(range(50))
    indexes = sorted(item.index for m in messages for item in m.items)
    assert indexes == list(range(5000))
    assert all(signature_matches(m, SIGNING_KEY) for m in messages)
    assert {m.sealed_token for m in messages} == {"sealed-token-not-a-token"}
    job = _job_item(services, "big-file-job")
    assert (job["total"]["N"], job["chunks"]["N"], job["status"]["S"]) == ("5000", "50", "queued")
    state = services.file_jobs.load("big-file-job")
    assert state is not None
    assert (state.phase, state.cursor.next_index, state.cursor.next_chunk) == (SPLIT, 5000, 50)


def test_the_split_closes_a_job_whose_chunks_were_all_counted_before_its_count_was_known(
    services: Services,
) -> None:
    bucket, key = _file_job(services, "fast-job")
    _upload(services, key, 3)
    # The worker counted the one chunk while the splitter was still running.
    boto3.client("dynamodb").update_item(
        TableName=services.settings.jobs_table, Key={"jobId": {"S": "fast-job"}, "sk": {"S": JOB_SK}},
        UpdateExpression="SET chunksDone = :one, succeeded = :three, #s = :running",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":one": {"N": "1"}, ":three": {"N": "3"}, ":running": {"S": "running"}})

    outcome = split_upload(services, bucket, key, time.monotonic() + 60)

    assert (outcome.outcome, outcome.total, outcome.chunks) == ("split", 3, 1)
    job = _job_item(services, "fast-job")
    assert (job["status"]["S"], job["total"]["N"], job["chunks"]["N"]) == ("succeeded", "3", "1")
    assert "openShard" not in job


def test_the_counts_are_recorded_once_and_a_rerun_after_the_end_changes_nothing(services: Services) -> None:
    _api_job(services, "once-job")
    assert services.jobs.record_split("once-job", total=10, chunks=2) is True
    assert services.jobs.record_split("once-job", total=99, chunks=9) is False
    job = _job_item(services, "once-job")
    assert (job["total"]["N"], job["chunks"]["N"]) == ("10", "2")
    assert services.jobs.record_split("no-such-job", total=1, chunks=1) is False


def test_a_redelivered_continuation_of_a_split_job_is_ignored_and_queues_nothing(services: Services) -> None:
    bucket, key = _file_job(services, "done-job")
    _upload(services, key, 5)
    assert split_upload(services, bucket, key, time.monotonic() + 60).outcome == "split"
    _drain(services.settings.work_queue_url)

    again = continue_split(services, "done-job", time.monotonic() + 60)

    assert (again.outcome, again.reason) == ("ignored", "the job is split, not splitting")
    assert _drain(services.settings.work_queue_url) == []


@pytest.mark.parametrize(("setup", "key", "reason"), [
    (None, "uploads/nobody/input.jsonl", "no file job awaits this upload"),
    ("splitting", "uploads/busy/input.jsonl", "the job is splitting, not awaiting its upload"),
    ("awaiting", "uploads/other/input.csv", "the job awaits s3://{bucket}/uploads/other/input.jsonl, not this object"),
    (None, "jobs/x/manifest.json", "s3://{bucket}/jobs/x/manifest.json is not an upload of the files bucket"),
])
def test_an_upload_no_job_awaits_is_ignored_and_queues_nothing(
    services: Services, setup: str | None, key: str, reason: str,
) -> None:
    job_id = key.split("/")[1]
    if setup is not None:
        _file_job(services, job_id, phase=SPLITTING if setup == "splitting" else AWAITING_UPLOAD)
    bucket = services.settings.files_bucket
    _upload(services, key, 3)

    outcome = split_upload(services, bucket, key, time.monotonic() + 60)

    assert (outcome.outcome, outcome.reason) == ("ignored", reason.format(bucket=bucket))
    assert _drain(services.settings.work_queue_url) == []


def test_an_upload_to_another_bucket_is_ignored(services: Services) -> None:
    outcome = split_upload(services, "someone-elses-bucket", "uploads/j/input.jsonl", time.monotonic() + 60)
    assert (outcome.outcome, outcome.reason) == (
        "ignored", "s3://someone-elses-bucket/uploads/j/input.jsonl is not an upload of the files bucket")


def test_a_file_that_is_not_there_fails_its_job_with_the_reason(services: Services) -> None:
    _file_job(services, "missing-file-job", phase=SPLITTING, key="corpus/missing.jsonl")

    outcome = continue_split(services, "missing-file-job", time.monotonic() + 60)

    reason = f"s3://{services.settings.files_bucket}/corpus/missing.jsonl cannot be read (NoSuchKey)"
    assert (outcome.outcome, outcome.reason) == ("failed", reason)
    job = _job_item(services, "missing-file-job")
    assert (job["status"]["S"], job["failureReason"]["S"]) == ("failed", reason)
    assert services.file_jobs.load("missing-file-job").phase == SPLIT


def test_the_cursor_is_saved_only_while_the_job_is_splitting(services: Services) -> None:
    _file_job(services, "cursor-job")
    services.file_jobs.save_cursor("cursor-job", SplitCursor(offset=10, next_index=2))
    assert services.file_jobs.load("cursor-job").cursor == SplitCursor()
    assert services.file_jobs.begin_split("cursor-job") is True
    assert services.file_jobs.begin_split("cursor-job") is False
    services.file_jobs.save_cursor("cursor-job", SplitCursor(offset=10, next_index=2))
    assert services.file_jobs.load("cursor-job").cursor == SplitCursor(offset=10, next_index=2)
