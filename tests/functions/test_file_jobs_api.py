"""POST /jobs through the API function, on the template's bucket, queues and tables in moto.

Without a URI a file job awaits its upload behind a presigned PUT; with one, the object must be
in a bucket the service reads and must exist, and the job goes to the split queue at once. A
caller's token is kept sealed only; bad input is a 4xx naming what is wrong.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.function_harness import Harness
from vectorizer.jobs.job_store import JOB_SK

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CONFIG = {"model": MODEL}


def env(harness: Harness, name: str) -> str:
    return harness.stack.environment("ApiFunction")[name]


def items_of(harness: Harness, job_id: str) -> dict[str, dict[str, Any]]:
    """Every item the jobs table holds for the job, by sort key."""
    answer = boto3.client("dynamodb").query(
        TableName=env(harness, "JOBS_TABLE"), KeyConditionExpression="jobId = :j",
        ExpressionAttributeValues={":j": {"S": job_id}},
    )
    return {item["sk"]["S"]: item for item in answer["Items"]}


def split_requests(harness: Harness) -> list[dict[str, Any]]:
    """The split queue's `{"jobId"}` messages (S3's own notifications, its test event, left out)."""
    sqs = boto3.client("sqs")
    got = sqs.receive_message(QueueUrl=env(harness, "SPLIT_QUEUE_URL"), MaxNumberOfMessages=10)
    bodies = [json.loads(message["Body"]) for message in got.get("Messages", [])]
    return [body for body in bodies if "jobId" in body]


def put_object(bucket: str, key: str, body: bytes = b'"a text"\n') -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def test_a_job_without_a_uri_awaits_its_upload_behind_a_presigned_put_to_its_own_key(harness: Harness) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl"}})
    after = datetime.now(UTC)

    assert answer.status == 202, answer.body
    job_id = answer.body["jobId"]
    assert set(answer.body) == {"jobId", "status", "upload"}
    assert answer.body["status"] == "awaiting_upload"
    assert answer.headers["Location"] == f"/jobs/{job_id}"
    upload = answer.body["upload"]
    assert upload["method"] == "PUT"
    url = urlsplit(upload["url"])
    bucket = env(harness, "FILES_BUCKET")
    assert url.path.endswith(f"/uploads/{job_id}/input.jsonl")
    assert bucket in url.netloc + url.path
    assert parse_qs(url.query)["X-Amz-Expires"] == ["900"]
    expires = datetime.fromisoformat(upload["expiresAt"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=900) <= expires <= after + timedelta(seconds=900)

    items = items_of(harness, job_id)
    assert set(items) == {JOB_SK, "file"}
    job, file = items[JOB_SK], items["file"]
    assert (job["status"]["S"], job["output"]["S"], job["origin"]["S"], job["model"]["S"]) == (
        "queued", "files", "api", MODEL)
    assert "total" not in job and "chunks" not in job
    assert (file["phase"]["S"], file["bucket"]["S"], file["key"]["S"], file["format"]["S"]) == (
        "awaiting_upload", bucket, f"uploads/{job_id}/input.jsonl", "jsonl")
    assert split_requests(harness) == []  # the upload's notification starts it, not the API


def test_the_presigned_put_takes_the_file_at_the_upload_key(harness: Harness) -> None:
    import requests

    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "csv"}})
    sent = requests.put(answer.body["upload"]["url"], data=b"id,text\na,first\n", timeout=10)
    assert sent.status_code == 200
    stored = boto3.client("s3").get_object(
        Bucket=env(harness, "FILES_BUCKET"), Key=f"uploads/{answer.body['jobId']}/input.csv")
    assert stored["Body"].read() == b"id,text\na,first\n"


def test_a_callers_token_is_kept_sealed_and_appears_in_no_item(harness: Harness) -> None:
    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl"}},
                         headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert answer.status == 202, answer.body
    items = items_of(harness, answer.body["jobId"])
    assert items["file"]["sealedToken"]["S"]
    assert CALLER_TOKEN not in json.dumps(items)


def test_the_default_token_is_never_kept(harness: Harness) -> None:
    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl"}})
    items = items_of(harness, answer.body["jobId"])
    assert "sealedToken" not in items["file"]
    assert DEFAULT_TOKEN not in json.dumps(items)


def test_a_uri_in_the_files_bucket_queues_the_job_for_splitting_at_once(harness: Harness) -> None:
    bucket = env(harness, "FILES_BUCKET")
    put_object(bucket, "inputs/corpus.jsonl")
    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl",
                                                                       "uri": f"s3://{bucket}/inputs/corpus.jsonl"}})
    assert answer.status == 202, answer.body
    job_id = answer.body["jobId"]
    assert answer.body == {"jobId": job_id, "status": "queued"}
    file = items_of(harness, job_id)["file"]
    assert (file["phase"]["S"], file["bucket"]["S"], file["key"]["S"]) == ("splitting", bucket, "inputs/corpus.jsonl")
    assert split_requests(harness) == [{"jobId": job_id}]


def test_a_uri_in_a_bucket_on_input_buckets_is_taken(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("s3").create_bucket(Bucket="customer-data")
    put_object("customer-data", "exports/2026.csv", b"text\nhello\n")
    harness.reconfigure(monkeypatch, INPUT_BUCKETS="other-bucket, customer-data")
    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "csv",
                                                                       "uri": "s3://customer-data/exports/2026.csv"}})
    assert (answer.status, answer.body["status"]) == (202, "queued")
    assert split_requests(harness) == [{"jobId": answer.body["jobId"]}]


def test_a_uri_in_any_other_bucket_is_refused_with_403_and_nothing_recorded(harness: Harness) -> None:
    boto3.client("s3").create_bucket(Bucket="someone-elses")
    put_object("someone-elses", "a.jsonl")
    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl",
                                                                       "uri": "s3://someone-elses/a.jsonl"}})
    assert (answer.status, answer.body) == (403, {
        "error": "bucket 'someone-elses' is not one this service reads: use the upload link (omit 'uri') or a "
                 "bucket on INPUT_BUCKETS", "code": "input_not_allowed"})
    assert split_requests(harness) == []


def test_a_uri_naming_no_object_is_a_400_naming_it(harness: Harness) -> None:
    uri = f"s3://{env(harness, 'FILES_BUCKET')}/inputs/missing.jsonl"
    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl", "uri": uri}})
    assert (answer.status, answer.body) == (400, {
        "error": f"there is no object at {uri!r} (or it cannot be read)", "code": "input_not_found"})
    assert split_requests(harness) == []


def test_a_malformed_uri_is_a_400_saying_why(harness: Harness) -> None:
    answer = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl", "uri": "https://x/y"}})
    assert (answer.status, answer.body) == (400, {
        "error": "'https://x/y' is not a usable S3 URI: it must start with s3://", "code": "invalid_s3_uri"})


@pytest.mark.parametrize("body", [
    {"config": CONFIG},
    {"config": CONFIG, "input": {"format": "xml"}},
    {"config": CONFIG, "input": {"format": "jsonl", "extra": 1}},
    {"config": {"model": MODEL, "passageModel": MODEL}, "input": {"format": "jsonl"}},
])
def test_bad_input_is_a_4xx_json_error_never_a_500(harness: Harness, body: dict[str, Any]) -> None:
    answer = harness.api("POST", "/jobs", body)
    assert 400 <= answer.status < 500, answer.body
    assert set(answer.body) == {"error", "code"}


def test_unparsable_json_is_a_400(harness: Harness) -> None:
    answer = harness.api("POST", "/jobs", raw_body=b"{not json")
    assert (answer.status, answer.body["code"]) == (400, "bad_json")


def test_a_retry_with_the_same_idempotency_key_gets_the_same_job(harness: Harness) -> None:
    body = {"config": CONFIG, "input": {"format": "jsonl"}}
    first = harness.api("POST", "/jobs", body, headers={"Idempotency-Key": "order-17"})
    again = harness.api("POST", "/jobs", body, headers={"Idempotency-Key": "order-17"})
    assert (first.status, again.status) == (202, 202)
    assert again.body == first.body


def test_a_file_jobs_vectors_route_answers_409_pointing_at_output(harness: Harness) -> None:
    job_id = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl"}}).body["jobId"]
    answer = harness.api("GET", f"/jobs/{job_id}/vectors")
    assert (answer.status, answer.body) == (409, {
        "error": "this is a file job: its vectors are in S3, linked from GET /jobs/{jobId} under 'output' once it "
                 "ends", "code": "vectors_in_files"})


def test_a_file_jobs_status_shows_its_input_and_no_output_before_its_manifest(harness: Harness) -> None:
    job_id = harness.api("POST", "/jobs", {"config": CONFIG, "input": {"format": "csv"}}).body["jobId"]
    answer = harness.api("GET", f"/jobs/{job_id}")
    assert answer.status == 200, answer.body
    assert answer.body["input"] == {
        "format": "csv", "uri": f"s3://{env(harness, 'FILES_BUCKET')}/uploads/{job_id}/input.csv"}
    assert answer.body["output"] is None
    assert (answer.body["status"], answer.body["total"]) == ("queued", 0)


def test_a_body_jobs_status_has_neither_input_nor_output(harness: Harness, fake_hf) -> None:
    answer = harness.api("POST", "/vectorize", {"texts": ["a", "b"], "mode": "async"})
    status = harness.api("GET", f"/jobs/{answer.body['jobId']}")
    assert "input" not in status.body and "output" not in status.body


def test_another_caller_gets_the_404_for_a_file_job(harness: Harness) -> None:
    from tests.functions.test_job_ownership import call, not_found

    job_id = call(harness, "POST", "/jobs", {"config": CONFIG, "input": {"format": "jsonl"}},
                  api_key_id="key-a").body["jobId"]
    answer = call(harness, "GET", f"/jobs/{job_id}", api_key_id="key-b")
    assert (answer.status, answer.body) == (404, not_found(job_id))
