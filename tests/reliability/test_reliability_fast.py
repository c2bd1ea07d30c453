"""The fast part of `make reliability`, in `make test`: three faults on small jobs through the local stack.

The same harness as the full run (`benchmarks.reliability`), counted from the stores and the fake
endpoint's log: under 503 loading, 429 with Retry-After and every message delivered twice, each
accepted item ends with exactly its own vector, and no job is left open.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.reliability.harness import Bench, Row, bench, run_scenario
from benchmarks.reliability.scenarios import FAST, by_name

pytestmark = pytest.mark.e2e

TEXTS = 300  # six chunks of 50: several worker batches, two SendMessageBatch-sized submits' worth of retries


@pytest.fixture(scope="module")
def running() -> Iterator[Bench]:
    with bench() as started:
        yield started


@pytest.fixture(scope="module")
def rows(running: Bench) -> dict[str, Row]:
    return {scenario.name: run_scenario(running, scenario, jobs=1, texts_per_job=TEXTS, timeout=90, grace=5)
            for scenario in by_name(FAST)}


@pytest.mark.parametrize("name", FAST)
def test_every_accepted_item_is_stored_once_with_its_own_vector_and_every_job_ends(
        rows: dict[str, Row], name: str) -> None:
    t = rows[name].tally
    assert (t.accepted, t.stored, t.failed, t.duplicated, t.lost, t.left_open, t.jobs) == (TEXTS, TEXTS, 0, 0, 0, 0, 1)
    assert rows[name].ok


@pytest.mark.parametrize("name", ["hf-503-loading", "hf-429-retry-after"])
def test_a_loading_or_rate_limited_endpoint_is_retried_until_every_batch_is_answered(
        rows: dict[str, Row], name: str) -> None:
    row = rows[name]
    refused = 503 if name == "hf-503-loading" else 429
    assert row.hf_retries == row.hf_statuses[refused] > 0
    assert row.hf_requests == row.hf_statuses[200] + row.hf_statuses[refused]
    assert row.api_5xx == 0


def test_a_chunk_delivered_twice_is_stored_and_counted_once(rows: dict[str, Row]) -> None:
    row = rows["duplicate-deliveries"]
    # Both copies of a chunk may be worked at once (then both call HF), never counted twice.
    assert row.hf_statuses == {200: row.hf_requests}
    assert row.hf_requests >= TEXTS // 50 * 2
