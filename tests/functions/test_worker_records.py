"""The worker works the records of one batch side by side, and still reports failures per record."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.sqs_event_source import sqs_record
from tests.fakes.fake_hf_server import FakeHuggingFace, Faults, expected_vector
from tests.function_harness import Harness, emf_lines
from tests.integration.test_bulk_job import MODEL, adopt, all_vectors

CHUNK_TEXTS = 2  # fewer than HF_BATCH_SIZE: each chunk is exactly one HF request


def test_each_record_may_use_all_the_time_left_less_the_write_reserve() -> None:
    from functions.worker.app import WRITE_RESERVE_SECONDS, record_seconds

    assert WRITE_RESERVE_SECONDS == 15.0
    assert record_seconds(300.0) == 285.0
    assert record_seconds(60.0, reserve_seconds=10.0) == 50.0
    assert record_seconds(15.5) == 1.0  # a late record still gets a try
    assert record_seconds(3.0) == 1.0


def enqueue_jobs(harness: Harness, job_ids: list[str]) -> dict[str, list[str]]:
    """One chunk message per job, as an outside producer sends them; returns each job's texts."""
    texts = {}
    for job_id in job_ids:
        texts[job_id] = [f"{job_id} text {i}" for i in range(CHUNK_TEXTS)]
        message = {"version": 1, "jobId": job_id, "chunk": 0, "config": {"model": MODEL}, "purpose": "passage",
                   "items": [{"index": i, "id": f"{job_id}-{i}", "text": t} for i, t in enumerate(texts[job_id])]}
        harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=json.dumps(message))
    return texts


def one_batch(harness: Harness, expected: int) -> dict[str, Any]:
    """The queued messages as the one SQS event Lambda would hand the worker."""
    answer = harness.sqs.receive_message(
        QueueUrl=harness.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )
    messages = answer.get("Messages", [])
    assert len(messages) == expected
    queue_arn = harness.sqs.get_queue_attributes(QueueUrl=harness.queue_url, AttributeNames=["QueueArn"])
    return {"Records": [sqs_record(m, queue_arn["Attributes"]["QueueArn"], "us-east-1") for m in messages]}


def log_lines(harness: Harness, caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """Every record the worker logged, as the JSON its own formatter writes (its handler holds the
    stdout of the moment it was loaded, which capfd never sees)."""
    formatter = harness.worker_module.logger.registered_formatter
    return [json.loads(formatter.format(record)) for record in caplog.records if record.name == "vectorizer"]


def test_four_slow_records_have_their_hf_requests_in_flight_together(
    harness: Harness, fake_hf: FakeHuggingFace, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    jobs = ["side-a", "side-b", "side-c", "side-d"]
    texts = enqueue_jobs(harness, jobs)
    fake_hf.reconfigure(Faults(delay_seconds=0.5))  # each HF answer takes a while
    answer = harness.invoke_worker(one_batch(harness, expected=4))

    assert answer == {"batchItemFailures": []}
    # One request per chunk, so requests in flight together are requests of different chunks;
    # records worked one after another never have more than one.
    assert fake_hf.observed.requests == 4
    assert fake_hf.observed.max_in_flight == 4
    for job_id in jobs:
        adopt(harness, job_id)
        assert [item["vector"] for item in all_vectors(harness, job_id)] == [
            expected_vector(t) for t in texts[job_id]
        ]
    lines = log_lines(harness, caplog)
    done = sorted((line["job_id"], line["chunk"]) for line in lines if line.get("message") == "chunk done")
    assert done == [(job_id, 0) for job_id in jobs]
    # The container's HF budget after each record, as an EMF metric: HF never pushed back here.
    emf = emf_lines(capsys.readouterr().out)
    limits = [line["HfConcurrencyLimit"] for line in emf if "HfConcurrencyLimit" in line]
    assert limits == [[8, 8, 8, 8]]


def test_a_failing_record_among_concurrent_ones_is_the_only_one_handed_back(
    harness: Harness, fake_hf: FakeHuggingFace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    worker = harness.worker_module
    real_process_chunk = worker.process_chunk

    def process_chunk(services: Any, message: Any, **kwargs: Any) -> Any:
        if message.job_id == "broken-job":
            raise RuntimeError("the job table is unreachable")
        return real_process_chunk(services, message, **kwargs)

    monkeypatch.setattr(worker, "process_chunk", process_chunk)
    enqueue_jobs(harness, ["good-a", "broken-job", "good-b"])
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody="not json at all")
    event = one_batch(harness, expected=4)
    broken_id = next(r["messageId"] for r in event["Records"] if "broken-job" in r["body"])

    answer = harness.invoke_worker(event)

    # The broken record comes back alone; the invalid one is parked, the good ones are done.
    assert answer == {"batchItemFailures": [{"itemIdentifier": broken_id}]}
    assert len(harness.dead_letters()) == 1
    lines = log_lines(harness, caplog)
    retried = [line for line in lines if line.get("message") == "chunk will be retried"]
    assert [(line["job_id"], line["chunk"], line["reason"]) for line in retried] == [
        ("broken-job", 0, "the chunk could not be processed (RuntimeError)")
    ]
    done = sorted(line["job_id"] for line in lines if line.get("message") == "chunk done")
    assert done == ["good-a", "good-b"]
    # No line of another record carries the broken job's id, nor does any line mix two jobs.
    assert all(line.get("job_id") == "broken-job" for line in lines if "broken-job" in json.dumps(line))



def test_the_invocation_ends_only_once_the_content_cache_holds_its_vectors(
    harness: Harness, fake_hf: FakeHuggingFace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cache writes run off each chunk's path; a container frozen after the invocation would hold
    # them, so the worker waits for them before it answers.
    from vectorizer.config import ModuleConfig, resolve_target
    from vectorizer.hf.cache import cache_key

    services = harness.worker_module.services()
    store = services.hf.store
    real_put_many = store.put_many

    def slow_put_many(vectors: dict[str, list[float]]) -> None:
        time.sleep(0.5)
        real_put_many(vectors)

    monkeypatch.setattr(store, "put_many", slow_put_many)
    texts = enqueue_jobs(harness, ["cached-a"])
    assert harness.invoke_worker(one_batch(harness, expected=1)) == {"batchItemFailures": []}

    target = resolve_target(ModuleConfig(model=MODEL), "passage", services.settings)
    cached = store.get_many([cache_key(target, text) for text in texts["cached-a"]])
    assert sorted(cached.values()) == sorted(expected_vector(text) for text in texts["cached-a"])
