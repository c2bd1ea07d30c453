"""A whole bulk job on moto: API -> SQS -> worker -> DynamoDB -> job status and vectors.

The fake HF answers each text with a vector derived from its hash, so every stored vector can be
checked exactly; faults are injected to prove that retries, redeliveries and crashes neither lose
nor duplicate an item, and that no token is ever at rest in plain text.
"""

from __future__ import annotations

import json
import math

import boto3
import pytest

from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.fakes.fake_hf_server import Faults, expected_vector
from tests.function_harness import Harness
from vectorizer.codec import decode_vector

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TOTAL = 2000


def corpus(count: int) -> list[str]:
    return [f"Document {i} talks about topic {i % 37} in sentence number {i}." for i in range(count)]


def submit(harness: Harness, texts: list[str], **extra) -> dict:
    body = {"config": {"model": MODEL}, "texts": texts, "ids": [f"doc-{i}" for i in range(len(texts))], **extra}
    answer = harness.api("POST", "/vectorize", body, headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert answer.status == 202, answer.body
    assert answer.headers["Location"] == f"/jobs/{answer.body['jobId']}"
    return answer.body


def adopt(harness: Harness, job_id: str) -> None:
    """Make the test's (anonymous) caller the owner of a job an outside producer queued, which has
    none, so that the API, which reports a job to its owner only, reports it."""
    boto3.client("dynamodb").update_item(
        TableName=harness.stack.environment("ApiFunction")["JOBS_TABLE"],
        Key={"jobId": {"S": job_id}, "sk": {"S": "job"}}, UpdateExpression="SET #o = if_not_exists(#o, :anon)",
        ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":anon": {"S": "anonymous"}},
    )


def all_vectors(harness: Harness, job_id: str, page: int = 500) -> list[dict]:
    items, token = [], None
    while True:
        query = {"limit": str(page), **({"nextToken": token} if token else {})}
        answer = harness.api("GET", f"/jobs/{job_id}/vectors", query=query)
        assert answer.status == 200, answer.body
        items.extend(answer.body["items"])
        token = answer.body["nextToken"]
        if token is None:
            return items


def assert_every_vector_exact(harness: Harness, job_id: str, texts: list[str]) -> None:
    items = all_vectors(harness, job_id)
    assert [item["index"] for item in items] == list(range(len(texts)))
    assert [item["id"] for item in items] == [f"doc-{i}" for i in range(len(texts))]
    for item, text in zip(items, texts, strict=True):
        assert item["vector"] == expected_vector(text)


def scan_all(table: str) -> list[dict]:
    client = boto3.client("dynamodb")
    items, start = [], {}
    while True:
        page = client.scan(TableName=table, **start)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def peek_queue(harness: Harness) -> list[str]:
    """Read every queued message once, then make them all visible again for the worker.

    Each receive counts towards the queue's maxReceiveCount, so every message is received exactly
    once here: hidden while the rest are read, then handed back.
    """
    received: list[dict] = []
    while True:
        answer = harness.sqs.receive_message(QueueUrl=harness.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        batch = answer.get("Messages", [])
        if not batch:
            break
        received.extend(batch)
    for message in received:
        harness.sqs.change_message_visibility(
            QueueUrl=harness.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [message["Body"] for message in received]


# A little latency per HF answer, so that overlapping requests are observable at all.
@pytest.mark.parametrize("faults", [Faults(delay_seconds=0.02)])
def test_two_thousand_texts_end_to_end_with_exact_vectors(harness: Harness, fake_hf, function_env, capfd) -> None:
    texts = corpus(TOTAL)
    accepted = submit(harness, texts)
    assert accepted == {"jobId": accepted["jobId"], "status": "queued", "total": TOTAL,
                        "chunks": math.ceil(TOTAL / 256)}
    queued = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    assert (queued["status"], queued["total"], queued["succeeded"]) == ("queued", TOTAL, 0)

    bodies = peek_queue(harness)
    assert len(bodies) == accepted["chunks"]
    messages = [json.loads(b) for b in bodies]
    assert sorted(item["index"] for m in messages for item in m["items"]) == list(range(TOTAL))
    assert all(m["sealedToken"] and CALLER_TOKEN not in b for m, b in zip(messages, bodies, strict=True))

    harness.run_worker_until_idle()

    job = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    assert {k: job[k] for k in ("status", "total", "succeeded", "failed", "model", "dimensions", "errors")} == {
        "status": "succeeded", "total": TOTAL, "succeeded": TOTAL, "failed": 0, "model": MODEL,
        "dimensions": 8, "errors": [],
    }
    assert_every_vector_exact(harness, accepted["jobId"], texts)
    # 2,000 texts at 32 per request: 63 requests, several in flight at once.
    assert fake_hf.observed.texts == TOTAL
    assert fake_hf.observed.max_in_flight > 1
    assert fake_hf.observed.authorizations == {f"Bearer {CALLER_TOKEN}"}

    stored = scan_all(function_env["VECTORS_TABLE"])
    assert len(stored) == TOTAL
    assert decode_vector(bytes(stored[0]["vector"]["B"])) == expected_vector(texts[int(stored[0]["index"]["N"])])
    at_rest = json.dumps(stored, default=str) + json.dumps(scan_all(function_env["JOBS_TABLE"]), default=str)
    out, err = capfd.readouterr()
    for token in (CALLER_TOKEN, DEFAULT_TOKEN):
        assert token not in at_rest
        assert token not in out + err


@pytest.mark.parametrize("faults", [Faults(loading_rate=0.1, rate_limit_rate=0.1, server_error_rate=0.1)])
def test_injected_503_429_500_still_end_succeeded_with_exact_vectors(harness: Harness, fake_hf, capfd) -> None:
    texts = corpus(TOTAL)
    accepted = submit(harness, texts)
    harness.run_worker_until_idle()
    job = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    assert (job["status"], job["succeeded"], job["failed"]) == ("succeeded", TOTAL, 0)
    assert_every_vector_exact(harness, accepted["jobId"], texts)
    statuses = fake_hf.observed.statuses
    assert statuses.get(503, 0) > 0 and statuses.get(429, 0) > 0 and statuses.get(500, 0) > 0
    out, err = capfd.readouterr()
    assert CALLER_TOKEN not in out + err


def test_worker_crash_after_writing_vectors_neither_loses_nor_duplicates(
    harness: Harness, fake_hf, function_env, monkeypatch
) -> None:
    texts = corpus(600)
    accepted = submit(harness, texts)
    jobs = harness.worker_module.services().jobs
    real_count_chunk = jobs.count_chunk
    crashed = []

    def crash_once(job_id, chunk, **counts):
        if chunk == 1 and not crashed:
            crashed.append(chunk)
            raise RuntimeError("worker died after storing vectors, before counting")
        return real_count_chunk(job_id, chunk, **counts)

    monkeypatch.setattr(jobs, "count_chunk", crash_once)
    harness.run_worker_until_idle()

    assert crashed == [1]
    job = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    assert (job["status"], job["succeeded"], job["failed"]) == ("succeeded", 600, 0)
    assert len(scan_all(function_env["VECTORS_TABLE"])) == 600
    assert_every_vector_exact(harness, accepted["jobId"], texts)


def test_redelivery_after_a_lost_acknowledgement_counts_nothing_twice(harness: Harness, fake_hf) -> None:
    texts = corpus(300)
    accepted = submit(harness, texts)
    real_invoke = harness.worker_source._invoke
    lost = []

    def work_then_die(event):
        result = real_invoke(event)
        if not lost:
            lost.append(len(event["Records"]))
            raise TimeoutError("the container died before SQS heard back; the batch comes again")
        return result

    harness.worker_source._invoke = work_then_die
    harness.run_worker_until_idle()

    job = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    assert (job["status"], job["succeeded"], job["failed"]) == ("succeeded", 300, 0)
    assert lost == [2]  # both chunks were done, then delivered again
    assert fake_hf.observed.texts == 300  # the redelivered chunks were recognised, not redone
    assert_every_vector_exact(harness, accepted["jobId"], texts)


REFUSED = "Document 7 talks about topic 7 in sentence number 7."


@pytest.mark.parametrize("faults", [Faults(refuse_texts=frozenset({REFUSED}))])
def test_a_refused_item_makes_the_job_partial_and_says_which(harness: Harness, fake_hf) -> None:
    texts = corpus(300)
    accepted = submit(harness, texts)
    harness.run_worker_until_idle()
    job = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    assert (job["status"], job["succeeded"], job["failed"]) == ("partial", 299, 1)
    assert [(e["index"], e["id"]) for e in job["errors"]] == [(7, "doc-7")]
    assert [item["index"] for item in all_vectors(harness, accepted["jobId"])] == [i for i in range(300) if i != 7]


@pytest.mark.parametrize("faults", [Faults(loading_rate=1.0)])
def test_a_chunk_that_never_succeeds_fails_its_items_on_the_last_delivery(
    harness: Harness, fake_hf, monkeypatch
) -> None:
    harness.reconfigure(monkeypatch, HF_MAX_ATTEMPTS="1")
    accepted = submit(harness, corpus(5), mode="async")
    harness.run_worker_until_idle()
    job = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    max_receive = int(harness.stack.environment("WorkerFunction")["MAX_RECEIVE_COUNT"])
    assert fake_hf.observed.requests == max_receive  # one try per delivery, then recorded
    assert (job["status"], job["succeeded"], job["failed"]) == ("failed", 0, 5)
    assert [e["index"] for e in job["errors"]] == [0, 1, 2, 3, 4]
    assert all("currently loading" in e["error"] for e in job["errors"])
    assert harness.dead_letters() == []


def test_an_invalid_message_is_parked_once_with_its_reason(harness: Harness, fake_hf) -> None:
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=json.dumps({"version": 1, "jobId": "x"}))
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody="not json at all")
    batches = harness.worker_source.drain()
    assert [(b.received, b.failed) for b in batches] == [(2, 0)]
    parked = harness.dead_letters()
    assert len(parked) == 2
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in parked)
    assert "chunk: Field required" in reasons[0] or "chunk: Field required" in reasons[1]
    assert any("not valid JSON" in r for r in reasons)
    assert fake_hf.observed.requests == 0


def test_an_outside_producer_can_enqueue_straight_onto_the_queue(harness: Harness, fake_hf) -> None:
    texts = ["first outside text", "second outside text"]
    for chunk, (index, text) in enumerate(enumerate(texts)):
        message = {"version": 1, "jobId": "my-job-42", "chunk": chunk, "config": {"model": MODEL},
                   "purpose": "passage", "items": [{"index": index, "id": f"ext-{index}", "text": text}]}
        harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=json.dumps(message))
    harness.run_worker_until_idle()
    adopt(harness, "my-job-42")
    job = harness.api("GET", "/jobs/my-job-42").body
    assert (job["status"], job["total"], job["succeeded"], job["model"]) == ("succeeded", 2, 2, MODEL)
    items = all_vectors(harness, "my-job-42")
    assert [(i["index"], i["id"], i["vector"]) for i in items] == [
        (i, f"ext-{i}", expected_vector(t)) for i, t in enumerate(texts)
    ]
    assert fake_hf.observed.authorizations == {f"Bearer {DEFAULT_TOKEN}"}
