"""The content cache through the real handlers on moto: a text vectorized once is never sent to HF again."""

from __future__ import annotations

import boto3

from tests.conftest import CALLER_TOKEN
from tests.fakes.fake_hf_server import expected_vector
from tests.function_harness import Harness
from tests.integration.test_bulk_job import all_vectors, scan_all, submit

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def texts(count: int) -> list[str]:
    # 3 distinct texts per 10, so that the dedupe shows as well as the cache.
    return [f"Sentence {i % 3} about cached vectors." for i in range(count)]


def run_job(harness: Harness, items: list[str]) -> dict:
    accepted = submit(harness, items, mode="async")
    harness.run_worker_until_idle()
    job = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    assert job["status"] == "succeeded", job
    assert [item["vector"] for item in all_vectors(harness, accepted["jobId"])] == [expected_vector(t) for t in items]
    return job


def test_the_same_job_twice_reaches_hf_only_the_first_time(harness: Harness, fake_hf) -> None:
    items = texts(10)
    run_job(harness, items)
    assert fake_hf.observed.texts == 3
    first_requests = fake_hf.observed.requests
    assert first_requests >= 1

    run_job(harness, items)
    assert fake_hf.observed.requests == first_requests
    assert fake_hf.observed.texts == 3


def test_an_inline_answer_is_cached_for_a_later_job_and_use_cache_false_goes_to_hf(harness: Harness, fake_hf) -> None:
    body = {"config": {"model": MODEL}, "texts": ["a cat", "a kitten", "a cat"], "mode": "sync"}
    first = harness.api("POST", "/vectorize", body, headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert first.status == 200, first.body
    assert first.body["vectors"] == [expected_vector(t) for t in ["a cat", "a kitten", "a cat"]]
    assert fake_hf.observed.texts == 2

    run_job(harness, ["a kitten", "a cat"])
    assert fake_hf.observed.texts == 2

    no_cache = {**body, "config": {"model": MODEL, "options": {"useCache": False}}}
    again = harness.api("POST", "/vectorize", no_cache, headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert again.status == 200, again.body
    assert again.body["vectors"] == first.body["vectors"]
    assert fake_hf.observed.texts == 4


def test_the_cache_table_holds_no_token_and_no_text(harness: Harness, fake_hf) -> None:
    items = texts(4)
    run_job(harness, items)
    table = harness.stack.environment("ApiFunction")["CACHE_TABLE"]
    stored = scan_all(table)
    assert len(stored) == 3
    assert boto3.client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"] == [
        {"AttributeName": "key", "KeyType": "HASH"}
    ]
    for item in stored:
        assert CALLER_TOKEN not in repr(item)
        assert not any(text in repr(item) for text in items)


def test_a_job_pays_hf_for_its_distinct_texts_only_even_without_the_cache(
    harness: Harness, fake_hf, monkeypatch
) -> None:
    # 600 items holding 60 distinct texts, 32 distinct a chunk: were copies of a text spread over
    # chunks, each chunk would send it; kept together, each goes once, in the requests 60 texts
    # alone would take (2 of 32).
    harness.reconfigure(monkeypatch, CHUNK_SIZE="32")
    items = [f"Sentence {i % 60} about repeated texts." for i in range(600)]
    accepted = submit(harness, items, mode="async", config={"model": MODEL, "options": {"useCache": False}})
    harness.run_worker_until_idle()

    job = harness.api("GET", f"/jobs/{accepted['jobId']}").body
    assert (job["status"], accepted["chunks"]) == ("succeeded", 2)
    assert (fake_hf.observed.texts, fake_hf.observed.requests) == (60, 2)
    assert [item["vector"] for item in all_vectors(harness, accepted["jobId"])] == [expected_vector(t) for t in items]
