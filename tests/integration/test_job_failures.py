"""Bulk jobs when things go wrong: the queue, the last delivery, producers' mistakes, time.

Whatever fails, a job must end (or stay honestly open for an outside producer), say which items
have no vector, never lose an accepted item silently, and never put a token where it can be read.
"""

from __future__ import annotations

import json
import re
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.fakes.fake_hf_server import Faults, expected_vector
from tests.function_harness import Harness
from tests.integration.test_bulk_job import MODEL, adopt, all_vectors, corpus, scan_all, submit
from vectorizer.batch_write import UnprocessedItemsError

JOB_ID = re.compile(r"\b[0-9a-f]{32}\b")


def throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation
    )


def outside_message(job_id: str, chunk: int, items: list[tuple[int, str]], **extra) -> str:
    return json.dumps({
        "version": 1, "jobId": job_id, "chunk": chunk, "config": {"model": MODEL}, "purpose": "passage",
        "items": [{"index": index, "id": f"ext-{index}", "text": text} for index, text in items], **extra,
    })


def send(harness: Harness, body: str) -> None:
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=body)


def job(harness: Harness, job_id: str) -> dict:
    adopt(harness, job_id)
    answer = harness.api("GET", f"/jobs/{job_id}")
    assert answer.status == 200, answer.body
    return answer.body


def queue_is_empty(harness: Harness) -> bool:
    attributes = harness.sqs.get_queue_attributes(
        QueueUrl=harness.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def max_receive(harness: Harness) -> int:
    return int(harness.stack.environment("WorkerFunction")["MAX_RECEIVE_COUNT"])


# ------------------------------------------------------------------ 1. the work queue fails


def post_job(harness: Harness, texts: list[str]):
    body = {"config": {"model": MODEL}, "texts": texts, "ids": [f"doc-{i}" for i in range(len(texts))],
            "mode": "async"}
    return harness.api("POST", "/vectorize", body, headers={"X-Huggingface-Api-Key": CALLER_TOKEN})


def always_throttled(**kwargs):
    raise throttled("SendMessageBatch")


def always_refused(**kwargs):
    return {"Successful": [], "Failed": [
        {"Id": entry["Id"], "SenderFault": True, "Code": "InvalidParameterValue", "Message": "refused"}
        for entry in kwargs["Entries"]
    ]}


@pytest.mark.parametrize(
    ("send", "detail"), [(always_throttled, "ThrottlingException"), (always_refused, "refused")],
    ids=["throttled", "refused"],
)
def test_a_queue_that_takes_no_chunk_fails_the_job_and_answers_503_with_its_id(
    harness: Harness, fake_hf, monkeypatch, send, detail
) -> None:
    monkeypatch.setattr(harness.api_module.services().queue._sqs, "send_message_batch", send)
    answer = post_job(harness, corpus(300))

    assert answer.status == 503, answer.body
    assert answer.body["code"] == "queue_unavailable"
    assert detail in answer.body["error"]
    [job_id] = JOB_ID.findall(answer.body["error"])
    assert CALLER_TOKEN not in answer.body["error"]
    record = job(harness, job_id)
    assert (record["status"], record["succeeded"], record["failed"]) == ("failed", 0, 0)


def test_chunks_sent_before_a_later_batch_failed_are_skipped_not_processed(
    harness: Harness, fake_hf, function_env, monkeypatch
) -> None:
    harness.reconfigure(monkeypatch, CHUNK_SIZE="10")
    sqs = harness.api_module.services().queue._sqs
    real_send = sqs.send_message_batch
    calls = []

    def second_batch_fails(**kwargs):
        calls.append(len(kwargs["Entries"]))
        if len(calls) == 2:
            raise throttled("SendMessageBatch")
        return real_send(**kwargs)

    monkeypatch.setattr(sqs, "send_message_batch", second_batch_fails)
    answer = post_job(harness, corpus(150))  # 15 chunks: a batch of 10 goes out, the next one fails

    assert calls == [10, 5]
    assert (answer.status, answer.body["code"]) == (503, "queue_unavailable")
    [job_id] = JOB_ID.findall(answer.body["error"])
    assert job(harness, job_id)["status"] == "failed"

    harness.run_worker_until_idle()

    record = job(harness, job_id)
    assert (record["status"], record["succeeded"], record["failed"]) == ("failed", 0, 0)
    assert fake_hf.observed.requests == 0  # the ten queued chunks were acknowledged, not worked
    assert scan_all(function_env["VECTORS_TABLE"]) == []
    assert harness.dead_letters() == []
    assert queue_is_empty(harness)


# ------------------------------------------------------------------ 2. the last delivery


def fail_vector_writes(harness: Harness, monkeypatch) -> list[int]:
    calls: list[int] = []

    def refuse(job_id, vectors, *, model):
        calls.append(len(vectors))
        raise UnprocessedItemsError("5 write(s) to the vectors table still unprocessed after 8 rounds")

    monkeypatch.setattr(harness.worker_module.services().vectors, "put", refuse)
    return calls


def fail_kms(harness: Harness, monkeypatch) -> list[int]:
    calls: list[int] = []

    def outage(**kwargs):
        calls.append(1)
        raise ClientError({"Error": {"Code": "KMSInternalException", "Message": "internal error"}}, "Decrypt")

    monkeypatch.setattr(harness.worker_module.services().sealer._kms, "decrypt", outage)
    return calls


@pytest.mark.parametrize(
    ("inject", "reason"),
    [(fail_vector_writes, "still unprocessed"), (fail_kms, "KMSInternalException")],
    ids=["dynamodb-throttled", "kms-outage"],
)
def test_a_chunk_failing_on_every_delivery_fails_its_items_on_the_last_one(
    harness: Harness, fake_hf, monkeypatch, capfd, inject, reason
) -> None:
    accepted = submit(harness, corpus(5), mode="async")
    calls = inject(harness, monkeypatch)

    harness.run_worker_until_idle()

    assert len(calls) == max_receive(harness)  # handed back to SQS until the last delivery
    record = job(harness, accepted["jobId"])
    assert (record["status"], record["succeeded"], record["failed"]) == ("failed", 0, 5)
    assert [(e["index"], e["id"]) for e in record["errors"]] == [(i, f"doc-{i}") for i in range(5)]
    assert all(reason in e["error"] for e in record["errors"]), record["errors"]
    assert harness.dead_letters() == []
    assert queue_is_empty(harness)
    out, err = capfd.readouterr()
    for token in (CALLER_TOKEN, DEFAULT_TOKEN):
        assert token not in json.dumps(record) + out + err


def test_a_sealed_token_that_cannot_open_fails_the_chunk_at_once(harness: Harness, fake_hf) -> None:
    send(harness, outside_message("ext-sealed", 0, [(0, "a"), (1, "b")], chunks=1, sealedToken="not base64!"))
    harness.worker_source.poll_once()
    record = job(harness, "ext-sealed")
    assert (record["status"], record["succeeded"], record["failed"]) == ("failed", 0, 2)
    assert all("the sealed token is not base64" in e["error"] for e in record["errors"])
    assert fake_hf.observed.requests == 0
    assert harness.dead_letters() == []
    assert queue_is_empty(harness)


def test_a_token_no_http_header_can_carry_fails_the_chunk_without_showing_it(
    harness: Harness, fake_hf, function_env, capfd
) -> None:
    token = "hf_caller\u00f6TOKENwith-an-umlaut"
    sealed = harness.worker_module.services().sealer.seal(token, "ext-umlaut")
    send(harness, outside_message("ext-umlaut", 0, [(0, "a"), (1, "b")], chunks=1, sealedToken=sealed))
    harness.worker_source.poll_once()
    record = job(harness, "ext-umlaut")
    assert (record["status"], record["succeeded"], record["failed"]) == ("failed", 0, 2)
    assert harness.dead_letters() == []
    assert queue_is_empty(harness)
    out, err = capfd.readouterr()
    at_rest = json.dumps(scan_all(function_env["JOBS_TABLE"]), default=str)
    for text in (json.dumps(record), at_rest, out + err):
        assert token not in text
        assert "TOKENwith-an-umlaut" not in text


def test_a_passing_failure_before_the_last_delivery_is_still_retried(harness: Harness, fake_hf, monkeypatch) -> None:
    accepted = submit(harness, corpus(5), mode="async")
    vectors = harness.worker_module.services().vectors
    real_put = vectors.put
    calls = []

    def fail_twice(job_id, stored, *, model):
        calls.append(1)
        if len(calls) <= 2:
            raise UnprocessedItemsError("throttled")
        return real_put(job_id, stored, model=model)

    monkeypatch.setattr(vectors, "put", fail_twice)
    harness.run_worker_until_idle()
    record = job(harness, accepted["jobId"])
    assert (record["status"], record["succeeded"], record["failed"]) == ("succeeded", 5, 0)
    assert len(calls) == 3


def test_a_chunk_failing_late_on_its_last_delivery_keeps_the_vectors_it_stored(
    harness: Harness, fake_hf, monkeypatch
) -> None:
    harness.reconfigure(monkeypatch, MAX_RECEIVE_COUNT="1")  # the first delivery is the last
    accepted = submit(harness, corpus(5), mode="async")
    jobs = harness.worker_module.services().jobs
    real_count = jobs.count_chunk
    calls = []

    def fail_once(*args, **kwargs):
        calls.append(kwargs["succeeded"])
        if len(calls) == 1:
            raise throttled("TransactWriteItems")
        return real_count(*args, **kwargs)

    monkeypatch.setattr(jobs, "count_chunk", fail_once)
    harness.run_worker_until_idle()
    record = job(harness, accepted["jobId"])
    assert (record["status"], record["succeeded"], record["failed"], record["errors"]) == ("succeeded", 5, 0, [])
    assert calls == [5, 5]
    assert len(all_vectors(harness, accepted["jobId"])) == 5


# ------------------------------------------------------------------ 7. no token at all


def test_no_sealed_token_and_no_default_token_fails_the_chunk_at_once(
    harness: Harness, fake_hf, monkeypatch
) -> None:
    harness.reconfigure(monkeypatch, HUGGINGFACE_APIKEY="", HUGGINGFACE_APIKEY_SECRET_ARN="")
    send(harness, outside_message("ext-no-token", 0, [(0, "a"), (1, "b")], chunks=1))
    harness.worker_source.poll_once()
    record = job(harness, "ext-no-token")
    assert (record["status"], record["succeeded"], record["failed"]) == ("failed", 0, 2)
    assert all(e["error"].startswith("no Hugging Face token: ") for e in record["errors"]), record["errors"]
    assert fake_hf.observed.requests == 0
    assert harness.dead_letters() == []
    assert queue_is_empty(harness)


# ------------------------------------------------------------------ 3. outside producers' jobs


REFUSED = "a text the model refuses"


@pytest.mark.parametrize("faults", [Faults(refuse_texts=frozenset({REFUSED}))])
def test_a_job_without_counts_reports_what_it_has_seen_after_every_chunk(harness: Harness, fake_hf) -> None:
    seen = []
    for chunk, items in enumerate([[(0, "first")], [(1, REFUSED)], [(2, "third"), (3, "fourth")]]):
        send(harness, outside_message("ext-open", chunk, items))
        harness.run_worker_until_idle()
        record = job(harness, "ext-open")
        seen.append((record["status"], record["total"], record["succeeded"], record["failed"]))
    assert seen == [("succeeded", 1, 1, 0), ("partial", 2, 1, 1), ("partial", 4, 3, 1)]
    assert [e["index"] for e in job(harness, "ext-open")["errors"]] == [1]


def test_a_job_with_a_total_but_no_chunk_count_closes_when_the_total_is_reached(harness: Harness, fake_hf) -> None:
    send(harness, outside_message("ext-total", 0, [(0, "first"), (1, "second")], total=3))
    harness.run_worker_until_idle()
    assert job(harness, "ext-total")["status"] == "running"
    send(harness, outside_message("ext-total", 1, [(2, "third")], total=3))
    harness.run_worker_until_idle()
    record = job(harness, "ext-total")
    assert (record["status"], record["total"], record["succeeded"]) == ("succeeded", 3, 3)


# ------------------------------------------------------------------ 4. a chunk number used twice


def test_a_chunk_number_reused_with_other_items_goes_to_the_dead_letter_queue(harness: Harness, fake_hf) -> None:
    first = outside_message("ext-reuse", 0, [(0, "first"), (1, "second")])
    send(harness, first)
    harness.run_worker_until_idle()
    send(harness, first)  # the same message again: a duplicate, acknowledged quietly
    harness.run_worker_until_idle()
    assert harness.dead_letters() == []

    other = outside_message("ext-reuse", 0, [(2, "third")])
    send(harness, other)
    harness.run_worker_until_idle()

    [parked] = harness.dead_letters()
    assert json.loads(parked["Body"]) == json.loads(other)
    assert parked["MessageAttributes"]["reason"]["StringValue"] == (
        "chunk 0 of job ext-reuse was already processed with other items"
    )
    record = job(harness, "ext-reuse")
    assert (record["status"], record["succeeded"], record["failed"]) == ("succeeded", 2, 0)
    assert [(i["index"], i["vector"]) for i in all_vectors(harness, "ext-reuse")] == [
        (0, expected_vector("first")), (1, expected_vector("second"))
    ]
    assert fake_hf.observed.texts == 2
    assert queue_is_empty(harness)


def test_a_chunk_counted_before_fingerprints_were_kept_is_still_a_duplicate(
    harness: Harness, fake_hf, function_env
) -> None:
    harness.worker_module.services().jobs.start("ext-legacy", model=MODEL, total=None, chunks=None)
    boto3.client("dynamodb").put_item(TableName=function_env["JOBS_TABLE"], Item={
        "jobId": {"S": "ext-legacy"}, "sk": {"S": "chunk#000000"}, "succeeded": {"N": "1"}, "failed": {"N": "0"},
    })
    send(harness, outside_message("ext-legacy", 0, [(0, "first")]))
    harness.run_worker_until_idle()
    assert harness.dead_letters() == []
    assert fake_hf.observed.requests == 0
    assert queue_is_empty(harness)


# ------------------------------------------------------------------ 5. the time budget


def test_every_record_gets_the_time_left_less_the_reserve(harness: Harness, fake_hf, monkeypatch) -> None:
    for chunk in range(10):
        send(harness, outside_message("ext-time", chunk, [(chunk, f"text {chunk}")]))
    real_process = harness.worker_module.process_chunk
    budgets = []

    def measure(services, message, *, final_attempt, deadline):
        budgets.append(deadline - time.monotonic())
        return real_process(services, message, final_attempt=final_attempt, deadline=deadline)

    monkeypatch.setattr(harness.worker_module, "process_chunk", measure)
    batches = harness.worker_source.drain()

    assert [b.received for b in batches] == [10]
    reserve = harness.worker_module.WRITE_RESERVE_SECONDS
    # The harness gives each invocation 300 s; the ten records run side by side, so each may use
    # all of it but the write reserve.
    assert len(budgets) == 10
    for budget in budgets:
        assert budget == pytest.approx(300 - reserve, abs=2.0), budgets
    assert job(harness, "ext-time")["succeeded"] == 10


# ------------------------------------------------------------------ 6. what a parked message keeps


def test_a_parked_message_loses_keys_the_schema_does_not_know(harness: Harness, fake_hf, capfd) -> None:
    stray = "hf_strayTOKENinTheMessage0123456"
    nested = "hf_nestedTOKENinAnItem987654321"
    body = json.loads(outside_message("ext-stray", 0, [(0, "a")]))
    body["token"] = stray
    body["items"][0]["token"] = nested
    send(harness, json.dumps(body))
    harness.run_worker_until_idle()

    [parked] = harness.dead_letters()
    assert stray not in parked["Body"] and nested not in parked["Body"]
    kept = json.loads(parked["Body"])
    assert "token" not in kept and "token" not in kept["items"][0]
    assert (kept["jobId"], kept["chunk"], kept["items"][0]["text"]) == ("ext-stray", 0, "a")
    reason = parked["MessageAttributes"]["reason"]["StringValue"]
    assert "token" in reason and "removed" in reason
    out, err = capfd.readouterr()
    assert stray not in out + err and nested not in out + err
    assert fake_hf.observed.requests == 0
