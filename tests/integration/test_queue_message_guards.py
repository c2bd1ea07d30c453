"""Queue messages can only ever touch their own job.

The work queue takes messages from the API and from outside producers alike. A message that names
a job the API created must prove it came from the API; a message's chunk number and item indexes
must fit the job as it was recorded, not as the message describes it. Whatever is refused is parked
on the dead-letter queue with its reason, and nothing of it is counted or stored.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.fakes.fake_hf_server import expected_vector
from tests.function_harness import Harness
from tests.integration.test_bulk_job import MODEL, all_vectors, corpus, peek_queue, scan_all, submit
from tests.integration.test_job_failures import job, outside_message, queue_is_empty, send


def finished_api_job(harness: Harness, count: int = 5) -> tuple[str, list[str]]:
    texts = corpus(count)
    accepted = submit(harness, texts, mode="async")
    harness.run_worker_until_idle()
    assert job(harness, accepted["jobId"])["status"] == "succeeded"
    return accepted["jobId"], texts


def parked_reasons(harness: Harness) -> list[str]:
    return sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in harness.dead_letters())


def assert_untouched(harness: Harness, job_id: str, texts: list[str]) -> None:
    record = job(harness, job_id)
    assert (record["status"], record["total"], record["succeeded"], record["failed"]) == (
        "succeeded", len(texts), len(texts), 0
    )
    assert [(i["index"], i["id"], i["vector"]) for i in all_vectors(harness, job_id)] == [
        (i, f"doc-{i}", expected_vector(text)) for i, text in enumerate(texts)
    ]


# ------------------------------------------------------------------ jobs the API created


def test_a_forged_chunk_for_a_finished_api_job_is_parked_and_changes_nothing(harness: Harness, fake_hf) -> None:
    job_id, texts = finished_api_job(harness)
    requests = fake_hf.observed.requests

    send(harness, outside_message(job_id, 1, [(0, "forged text")]))
    harness.run_worker_until_idle()

    assert_untouched(harness, job_id, texts)
    assert parked_reasons(harness) == [
        f"chunk 1 of job {job_id} is refused: the job was created by the API and the message "
        "carries no signature from it"
    ]
    assert fake_hf.observed.requests == requests
    assert queue_is_empty(harness)


def test_an_api_chunk_with_its_text_changed_in_transit_is_parked_and_the_job_still_ends(
    harness: Harness, fake_hf
) -> None:
    texts = corpus(5)
    accepted = submit(harness, texts, mode="async")
    [body] = peek_queue(harness)
    tampered = json.loads(body)
    tampered["items"][0]["text"] = "replaced in transit"
    send(harness, json.dumps(tampered))

    harness.run_worker_until_idle()

    assert_untouched(harness, accepted["jobId"], texts)
    assert parked_reasons(harness) == [
        f"chunk 0 of job {accepted['jobId']} is refused: its signature does not match the job it names"
    ]


def test_a_signed_api_chunk_replayed_under_another_chunk_number_is_parked(
    harness: Harness, fake_hf, monkeypatch
) -> None:
    harness.reconfigure(monkeypatch, CHUNK_SIZE="2")
    texts = corpus(5)
    accepted = submit(harness, texts, mode="async")
    bodies = peek_queue(harness)
    assert sorted(json.loads(b)["chunk"] for b in bodies) == [0, 1, 2]
    harness.run_worker_until_idle()

    # Chunk 0's signed message, renumbered as chunk 1: it would overwrite vectors 0 and 1.
    [first] = [b for b in bodies if json.loads(b)["chunk"] == 0]
    send(harness, json.dumps(json.loads(first) | {"chunk": 1}))
    harness.run_worker_until_idle()

    assert_untouched(harness, accepted["jobId"], texts)
    assert parked_reasons(harness) == [
        f"chunk 1 of job {accepted['jobId']} is refused: its signature does not match the job it names"
    ]


def test_the_signing_key_is_never_in_an_answer_a_message_or_a_log_line(
    harness: Harness, fake_hf, function_env, capfd
) -> None:
    texts = corpus(300)
    accepted = submit(harness, texts, mode="async")
    bodies = peek_queue(harness)
    harness.run_worker_until_idle()

    [record] = [
        item for item in scan_all(function_env["JOBS_TABLE"])
        if item["jobId"]["S"] == accepted["jobId"] and item["sk"]["S"] == "job"
    ]
    key = record["signingKey"]["S"]
    assert len(key) == 64
    assert record["origin"]["S"] == "api"
    readable = json.dumps(harness.api("GET", f"/jobs/{accepted['jobId']}").body) + json.dumps(
        harness.api("GET", f"/jobs/{accepted['jobId']}/vectors").body
    )
    out, err = capfd.readouterr()
    for place in (readable, *bodies, out + err):
        assert key not in place
    assert all(len(json.loads(b)["signature"]) == 64 for b in bodies)
    for token in (CALLER_TOKEN, DEFAULT_TOKEN):
        assert token not in out + err


# ------------------------------------------------------------------ bounds of a job


def test_a_chunk_number_past_the_jobs_chunks_is_parked_even_when_the_message_says_otherwise(
    harness: Harness, fake_hf
) -> None:
    send(harness, outside_message("ext-bounds", 0, [(0, "first")], total=2, chunks=2))
    harness.run_worker_until_idle()
    # The job has 2 chunks; this message claims 5 (and 8 items) so that its chunk number 3 would fit.
    send(harness, outside_message("ext-bounds", 3, [(1, "late")], total=8, chunks=5))
    send(harness, outside_message("ext-bounds", 2, [(1, "late")]))
    harness.run_worker_until_idle()

    record = job(harness, "ext-bounds")
    assert (record["status"], record["succeeded"], record["failed"]) == ("running", 1, 0)
    assert parked_reasons(harness) == [
        "chunk 2 of job ext-bounds is refused: the job has 2 chunks (numbered 0 to 1)",
        "chunk 3 of job ext-bounds is refused: the message says the job has 5 chunks, the job has 2",
    ]
    assert [i["index"] for i in all_vectors(harness, "ext-bounds")] == [0]


def test_an_item_index_past_the_jobs_total_is_parked_not_counted(harness: Harness, fake_hf) -> None:
    send(harness, outside_message("ext-total", 0, [(0, "first")], total=2, chunks=2))
    harness.run_worker_until_idle()
    send(harness, outside_message("ext-total", 1, [(2, "one too far")]))
    harness.run_worker_until_idle()
    record = job(harness, "ext-total")
    assert (record["status"], record["total"], record["succeeded"]) == ("running", 2, 1)
    assert parked_reasons(harness) == [
        "chunk 1 of job ext-total is refused: item index 2 is past the job's 2 items (numbered 0 to 1)"
    ]
    # The right chunk still closes the job.
    send(harness, outside_message("ext-total", 1, [(1, "second")]))
    harness.run_worker_until_idle()
    assert job(harness, "ext-total")["status"] == "succeeded"


@pytest.mark.parametrize(
    ("extra", "items", "reason"),
    [
        ({"total": 2}, [(0, "a"), (2, "c")], "item index 2 is past the message's total of 2 items"),
        ({"total": 1}, [(0, "a"), (1, "b")], "item index 1 is past the message's total of 1 items"),
        ({"chunks": 2, "chunk": 2}, [(0, "a")], "chunk 2 is past the message's 2 chunks"),
        ({"chunks": 3, "total": 2}, [(0, "a")], "3 chunks cannot hold only 2 items"),
        ({}, [(0, "a"), (0, "a again")], "item index 0 appears more than once"),
    ],
    ids=["index-past-total", "more-items-than-total", "chunk-past-chunks", "chunks-over-total", "repeated-index"],
)
def test_a_message_that_contradicts_itself_is_parked_with_its_reason(
    harness: Harness, fake_hf, extra, items, reason
) -> None:
    chunk = extra.pop("chunk", 0)
    send(harness, outside_message("ext-self", chunk, items, **extra))
    harness.run_worker_until_idle()
    [parked] = parked_reasons(harness)
    assert reason in parked
    assert fake_hf.observed.requests == 0
    assert harness.api("GET", "/jobs/ext-self").status == 404


def test_a_producer_job_still_takes_unsigned_messages_and_records_its_origin(
    harness: Harness, fake_hf, function_env
) -> None:
    send(harness, outside_message("ext-origin", 0, [(0, "only")], total=1, chunks=1))
    harness.run_worker_until_idle()
    record = job(harness, "ext-origin")
    assert (record["status"], record["succeeded"]) == ("succeeded", 1)
    [item] = [
        i for i in scan_all(function_env["JOBS_TABLE"]) if i["jobId"]["S"] == "ext-origin" and i["sk"]["S"] == "job"
    ]
    assert (item["origin"]["S"], record["model"]) == ("producer", MODEL)
    assert "signingKey" not in item
