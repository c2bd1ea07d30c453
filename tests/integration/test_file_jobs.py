"""A file job end to end, on moto: POST /jobs -> upload -> splitter -> worker -> shards in S3 ->
the job-ended event -> the notifier's manifest -> GET /jobs/{id} with links to it all.

The splitter runs as its service does (`files.service.split_upload`, as the upload's notification
would start it), the worker from the real work queue, the notifier on the event the template's
rule delivers. A body job beside it still writes its vectors to DynamoDB only.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
import requests

from local.functions import load_function
from local.lambda_context import LocalContext
from local.template_stack import route_rules_to_queues
from tests.conftest import CALLER_TOKEN
from tests.fakes.fake_hf_server import Faults, expected_vector
from tests.function_harness import Harness
from vectorizer.files.file_jobs import awaits_upload
from vectorizer.files.service import split_upload
from vectorizer.jobs.job_store import JOB_SK
from vectorizer.jobs.sweeper import sweep
from vectorizer.services import build_services

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [f"line number {n}" for n in range(5)]


@pytest.fixture
def notifier(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The notifier, loaded cold, and the queue the job-ended rule delivers to."""
    harness.reconfigure(monkeypatch, FILE_CHUNK_SIZE="2")
    [queue_url] = route_rules_to_queues(harness.stack, "NotifierFunction", boto3.client("events"), harness.sqs)
    module = load_function("notifier")
    module.notifier.cache_clear()
    module.manifests.cache_clear()
    yield module, queue_url
    module.notifier.cache_clear()
    module.manifests.cache_clear()


def bucket(harness: Harness) -> str:
    return harness.stack.environment("ApiFunction")["FILES_BUCKET"]


def objects(harness: Harness, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket(harness), Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket(harness), Key=o["Key"])["Body"].read() for o in listed}


def ended_events(harness: Harness, queue_url: str) -> list[dict[str, Any]]:
    answer = harness.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def run_file_job(harness: Harness, lines: list[str]) -> str:
    """POST /jobs, the file uploaded as a caller would, split and worked; returns the job id."""
    answer = harness.api("POST", "/jobs", {"config": {"model": MODEL}, "input": {"format": "jsonl"}},
                         headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert answer.status == 202, answer.body
    job_id = answer.body["jobId"]
    key = f"uploads/{job_id}/input.jsonl"
    boto3.client("s3").put_object(Bucket=bucket(harness), Key=key, Body="".join(line + "\n" for line in lines).encode())
    outcome = split_upload(build_services(), bucket(harness), key, time.monotonic() + 30)
    assert outcome.outcome == "split", outcome
    harness.run_worker_until_idle()
    return job_id


def test_a_file_jobs_vectors_are_written_as_shards_and_none_to_dynamodb(harness: Harness, notifier) -> None:
    job_id = run_file_job(harness, [json.dumps({"id": f"doc-{n}", "text": t}) for n, t in enumerate(TEXTS)])

    status = harness.api("GET", f"/jobs/{job_id}").body
    assert (status["status"], status["total"], status["succeeded"], status["failed"]) == ("succeeded", 5, 5, 0)
    shards = objects(harness, f"jobs/{job_id}/shards/")
    assert sorted(shards) == [f"jobs/{job_id}/shards/part-{c:06d}.{ext}" for c in range(3)
                              for ext in ("ids.jsonl", "jsonl", "npy")]
    rows = [json.loads(line) for c in range(3)
            for line in shards[f"jobs/{job_id}/shards/part-{c:06d}.jsonl"].splitlines()]
    assert [(row["id"], row["line"]) for row in rows] == [(f"doc-{n}", n + 1) for n in range(5)]
    assert [row["vector"] for row in rows] == [expected_vector(t) for t in TEXTS]
    matrix = np.load(io.BytesIO(shards[f"jobs/{job_id}/shards/part-000000.npy"]))
    assert matrix.tolist() == [expected_vector(TEXTS[0]), expected_vector(TEXTS[1])]
    vectors_table = harness.stack.environment("WorkerFunction")["VECTORS_TABLE"]
    stored = boto3.client("dynamodb").query(TableName=vectors_table, KeyConditionExpression="jobId = :j",
                                            ExpressionAttributeValues={":j": {"S": job_id}})
    assert stored["Count"] == 0


def test_a_body_job_still_writes_its_vectors_to_dynamodb_and_nothing_to_s3(harness: Harness) -> None:
    answer = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": TEXTS, "mode": "async"})
    harness.run_worker_until_idle()
    job_id = answer.body["jobId"]
    page = harness.api("GET", f"/jobs/{job_id}/vectors").body
    assert [item["vector"] for item in page["items"]] == [expected_vector(t) for t in TEXTS]
    assert objects(harness, f"jobs/{job_id}/") == {}


def test_the_notifier_writes_the_manifest_and_failures_once_the_same_bytes_on_a_retry(
    harness: Harness, notifier: tuple[Any, str]
) -> None:
    module, queue_url = notifier
    job_id = run_file_job(harness, [json.dumps(TEXTS[0]), "{not json", json.dumps(TEXTS[2])])
    [event] = ended_events(harness, queue_url)
    assert event["detail"]["status"] == "partial"

    answer = module.lambda_handler(event, LocalContext("NotifierFunction", 30))
    assert answer == {"jobId": job_id, "callback": "none", "manifest": True}
    first = objects(harness, f"jobs/{job_id}/")
    manifest = json.loads(first[f"jobs/{job_id}/manifest.json"])
    assert manifest["counts"] == {"total": 3, "succeeded": 2, "failed": 1}
    assert (manifest["status"], manifest["model"], manifest["source"]) == (
        "partial", MODEL, f"s3://{bucket(harness)}/uploads/{job_id}/input.jsonl")
    assert [(s["chunk"], s["count"], s["firstLine"], s["lastLine"]) for s in manifest["shards"]] == [
        (0, 1, 1, 1), (1, 1, 3, 3)]
    assert manifest["failures"] == {"key": f"jobs/{job_id}/failed.jsonl", "count": 1}
    [failure] = [json.loads(line) for line in first[f"jobs/{job_id}/failed.jsonl"].splitlines()]
    assert (failure["index"], failure["line"], failure["error"].startswith("line 2: ")) == (1, 2, True)

    module.lambda_handler(event, LocalContext("NotifierFunction", 30))  # EventBridge's retry
    assert objects(harness, f"jobs/{job_id}/") == first


def test_get_job_links_the_manifest_failures_and_every_shard_once_written(
    harness: Harness, notifier: tuple[Any, str]
) -> None:
    module, queue_url = notifier
    job_id = run_file_job(harness, [json.dumps(t) for t in TEXTS])
    assert harness.api("GET", f"/jobs/{job_id}").body["output"] is None
    [event] = ended_events(harness, queue_url)
    module.lambda_handler(event, LocalContext("NotifierFunction", 30))

    output = harness.api("GET", f"/jobs/{job_id}").body["output"]
    assert output["expiresIn"] == 3600 and output["nextToken"] is None
    assert [shard["chunk"] for shard in output["shards"]] == [0, 1, 2]
    s3 = boto3.client("s3")
    # moto serves a presigned GET made with requests as S3 would.

    manifest = requests.get(output["manifest"], timeout=10)
    assert (manifest.status_code, manifest.json()["jobId"]) == (200, job_id)
    ids = requests.get(output["shards"][2]["ids"], timeout=10).content
    key = f"jobs/{job_id}/shards/part-000002.ids.jsonl"
    assert ids == s3.get_object(Bucket=bucket(harness), Key=key)["Body"].read()
    assert requests.get(output["failures"], timeout=10).content == b""


def test_the_sweeper_closes_a_job_whose_upload_never_came_once_its_link_and_a_margin_passed(
    harness: Harness,
) -> None:
    answer = harness.api("POST", "/jobs", {"config": {"model": MODEL}, "input": {"format": "csv"}})
    job_id = answer.body["jobId"]
    services = build_services()

    def sweep_at(seconds: int) -> list[str]:
        report = sweep(services.jobs, datetime.now(UTC) + timedelta(seconds=seconds), stall_seconds=100_000,
                       submit_stall_seconds=300, awaits_upload=lambda j: awaits_upload(services.file_jobs, j),
                       upload_seconds=900)
        return [closing.job_id for closing in report.closed]

    assert sweep_at(900 + 299) == []
    assert sweep_at(900 + 301) == [job_id]
    item = boto3.client("dynamodb").get_item(TableName=services.settings.jobs_table,
                                             Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}})["Item"]
    assert (item["status"]["S"], item["failureReason"]["S"]) == (
        "failed", "no file was uploaded in the 900 s the upload link was valid (and a margin): closed by the sweeper")


def test_the_sweeper_leaves_a_file_job_that_is_splitting_to_the_ordinary_bound(harness: Harness) -> None:
    s3_bucket = bucket(harness)
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="inputs/a.jsonl", Body=b'"a"\n')
    answer = harness.api("POST", "/jobs", {"config": {"model": MODEL},
                                          "input": {"format": "jsonl", "uri": f"s3://{s3_bucket}/inputs/a.jsonl"}})
    services = build_services()

    report = sweep(services.jobs, datetime.now(UTC) + timedelta(seconds=5000), stall_seconds=100_000,
                   submit_stall_seconds=300, awaits_upload=lambda j: awaits_upload(services.file_jobs, j),
                   upload_seconds=900)
    assert answer.body["jobId"] not in [closing.job_id for closing in report.closed]


def test_lines_that_are_weaviate_objects_are_read_by_the_class_given_with_the_job(harness: Harness) -> None:
    from vectorizer.api.weaviate_objects import object_text

    weaviate_class = {"class": "Article", "moduleConfig": {"text2vec-huggingface": {"model": MODEL}},
                      "properties": [{"name": "title", "dataType": ["text"]}, {"name": "body", "dataType": ["text"]}]}
    objects_in_file = [{"id": f"obj-{n}", "properties": {"title": f"Title {n}", "body": f"Body of {n}"}}
                       for n in range(3)]
    answer = harness.api("POST", "/jobs", {"class": weaviate_class, "input": {"format": "jsonl"}},
                         headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert answer.status == 202, answer.body
    job_id = answer.body["jobId"]
    key = f"uploads/{job_id}/input.jsonl"
    body = "".join(json.dumps(line) + "\n" for line in objects_in_file).encode()
    boto3.client("s3").put_object(Bucket=bucket(harness), Key=key, Body=body)
    assert split_upload(build_services(), bucket(harness), key, time.monotonic() + 30).outcome == "split"
    harness.run_worker_until_idle()

    status = harness.api("GET", f"/jobs/{job_id}").body
    assert (status["status"], status["succeeded"]) == ("succeeded", 3), status
    rows = [json.loads(line) for shard in sorted(objects(harness, f"jobs/{job_id}/shards/").items())
            if shard[0].endswith(".jsonl") and not shard[0].endswith(".ids.jsonl") for line in shard[1].splitlines()]
    texts = [object_text(weaviate_class, line["properties"]) for line in objects_in_file]
    assert [(row["id"], row["vector"]) for row in rows] == [
        (f"obj-{n}", expected_vector(texts[n])) for n in range(3)]


@pytest.mark.parametrize("faults", [Faults(refuse_texts=frozenset({TEXTS[1]}))])
def test_a_redriven_file_chunk_keeps_the_vectors_its_shard_already_had(harness: Harness, fake_hf) -> None:
    # The chunk's shard is written whole at the end of a run: a redrive that embeds only the items
    # without a vector must still write the ones the shard already had.
    answer = harness.api("POST", "/jobs", {"config": {"model": MODEL}, "input": {"format": "jsonl"}},
                         headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
    job_id = answer.body["jobId"]
    key = f"uploads/{job_id}/input.jsonl"
    lines = [json.dumps({"id": f"doc-{n}", "text": t}) for n, t in enumerate(TEXTS[:3])]
    boto3.client("s3").put_object(Bucket=bucket(harness), Key=key, Body="".join(f"{line}\n" for line in lines).encode())
    assert split_upload(build_services(), bucket(harness), key, time.monotonic() + 30).outcome == "split"
    [queued] = harness.sqs.receive_message(QueueUrl=harness.queue_url, MaxNumberOfMessages=10)["Messages"]
    harness.sqs.change_message_visibility(QueueUrl=harness.queue_url, ReceiptHandle=queued["ReceiptHandle"],
                                          VisibilityTimeout=0)
    harness.run_worker_until_idle()
    status = harness.api("GET", f"/jobs/{job_id}").body
    assert (status["status"], status["succeeded"], status["failed"]) == ("partial", 2, 1)

    fake_hf.reconfigure(Faults())  # the model takes the refused text now; the operator redrives the chunk
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=queued["Body"])
    harness.run_worker_until_idle()

    status = harness.api("GET", f"/jobs/{job_id}").body
    assert (status["status"], status["succeeded"], status["failed"]) == ("succeeded", 3, 0)
    shard = objects(harness, f"jobs/{job_id}/shards/")[f"jobs/{job_id}/shards/part-000000.jsonl"]
    rows = [json.loads(line) for line in shard.splitlines()]
    assert [(row["id"], row["vector"]) for row in rows] == [(f"doc-{n}", expected_vector(t))
                                                            for n, t in enumerate(TEXTS[:3])]
