"""The worker sends the operator's default token only where the operator sends it, opens only
tokens sealed for this stack, and keeps one width of vector per job.

Messages come straight from an outside producer (the queue is open to them), through the real
work queue in moto and the real worker handler.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.fakes.fake_hf_server import DIMENSIONS, FakeHuggingFace, expected_vector
from tests.function_harness import Harness
from tests.integration.test_bulk_job import MODEL, adopt, all_vectors, scan_all
from vectorizer.credentials import TokenSealer


@pytest.fixture
def stranger() -> Iterator[FakeHuggingFace]:
    """An endpoint on a host the allow-list admits (127.0.0.1:*) that the operator never listed."""
    with FakeHuggingFace() as server:
        yield server


def message(job_id: str, chunk: int, texts: list[str], config: dict, **extra) -> str:
    return json.dumps({
        "version": 1, "jobId": job_id, "chunk": chunk, "config": config, "purpose": "passage",
        "items": [{"index": chunk * 10 + i, "id": f"doc-{chunk * 10 + i}", "text": t} for i, t in enumerate(texts)],
        **extra,
    })


def token_key_id(harness: Harness) -> str:
    return harness.stack.environment("WorkerFunction")["TOKEN_KEY_ID"]


def work(harness: Harness, body: str) -> dict:
    """Send one message, let the worker take it, and return the job as the API reports it."""
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=body)
    harness.worker_source.poll_once()
    job_id = json.loads(body)["jobId"]
    adopt(harness, job_id)  # an outside producer's job has no owner the API would report it to
    answer = harness.api("GET", f"/jobs/{job_id}")
    assert answer.status == 200, answer.body
    return answer.body


def test_a_producers_endpoint_url_never_gets_the_default_token(
    harness: Harness, fake_hf, stranger, function_env, capfd
) -> None:
    config = {"endpointURL": f"{stranger.base_url}/collect"}
    record = work(harness, message("ext-stranger", 0, ["a", "b"], config, chunks=1))
    reason = (
        "no Hugging Face token: the message carries no sealed token and this deployment's default token is "
        "not sent to '127.0.0.1': it goes only to HF_API_BASE_URL and the hosts the operator lists in "
        "DEFAULT_TOKEN_HOSTS"
    )
    assert (record["status"], record["succeeded"], record["failed"]) == ("failed", 0, 2)
    assert record["errors"] == [{"index": 0, "id": "doc-0", "error": reason},
                                {"index": 1, "id": "doc-1", "error": reason}]
    assert stranger.observed.requests == 0
    assert fake_hf.observed.requests == 0
    assert harness.dead_letters() == []  # failed for good at once, not parked, not retried
    out, err = capfd.readouterr()
    assert DEFAULT_TOKEN not in out + err + json.dumps(scan_all(function_env["JOBS_TABLE"]), default=str)


def test_a_producers_endpoint_url_the_operator_lists_gets_the_default_token(
    harness: Harness, monkeypatch, stranger
) -> None:
    harness.reconfigure(monkeypatch, DEFAULT_TOKEN_HOSTS=stranger.base_url)
    config = {"endpointURL": f"{stranger.base_url}/listed"}
    record = work(harness, message("ext-listed", 0, ["a", "b"], config, chunks=1))
    assert (record["status"], record["succeeded"], record["failed"]) == ("succeeded", 2, 0)
    assert stranger.observed.authorizations == {f"Bearer {DEFAULT_TOKEN}"}


def test_a_token_sealed_in_another_stack_does_not_open_here(harness: Harness, fake_hf) -> None:
    # Lifted from another stack's dead-letter queue and replayed under the same job id.
    other = TokenSealer(boto3.client("kms"), token_key_id(harness), stack="another-stack")
    sealed = other.seal(CALLER_TOKEN, "ext-replay")
    record = work(harness, message("ext-replay", 0, ["a"], {"model": MODEL}, chunks=1, sealedToken=sealed))
    assert (record["status"], record["failed"]) == ("failed", 1)
    assert record["errors"][0]["error"] == "the sealed token does not open under this job id in this stack"
    assert fake_hf.observed.requests == 0


def test_a_chunk_whose_width_differs_from_the_jobs_fails_its_items_with_the_reason(
    harness: Harness, fake_hf, function_env
) -> None:
    first = work(harness, message("ext-width", 0, ["a", "b"], {"model": MODEL}, chunks=2))
    assert (first["dimensions"], first["succeeded"]) == (DIMENSIONS, 2)
    # As if the job's first chunk had been answered by a replica serving a 16-wide model.
    boto3.client("dynamodb").update_item(
        TableName=function_env["JOBS_TABLE"], Key={"jobId": {"S": "ext-width"}, "sk": {"S": "job"}},
        UpdateExpression="SET dimensions = :d", ExpressionAttributeValues={":d": {"N": "16"}},
    )
    record = work(harness, message("ext-width", 1, ["c", "d"], {"model": MODEL}, chunks=2))
    reason = f"HF answered {DIMENSIONS} dimensions where this job's other vectors have 16"
    assert (record["status"], record["succeeded"], record["failed"], record["dimensions"]) == ("partial", 2, 2, 16)
    assert record["errors"] == [{"index": 10, "id": "doc-10", "error": reason},
                                {"index": 11, "id": "doc-11", "error": reason}]
    stored = all_vectors(harness, "ext-width")
    assert [(v["index"], v["vector"]) for v in stored] == [(0, expected_vector("a")), (1, expected_vector("b"))]
