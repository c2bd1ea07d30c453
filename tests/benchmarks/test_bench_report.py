"""The performance benchmark's pure parts: the ideal time, the counting helpers and the report's text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.performance.charts import clients_chart, scaling_chart
from benchmarks.performance.fake_endpoint import EndpointParams
from benchmarks.performance.job_runs import (
    ChunkRun,
    InlineRun,
    JobRun,
    efficiency,
    ideal_seconds,
    invocations,
    item_bytes,
    texts_for,
    write_units,
)
from benchmarks.performance.report import Machine, Results, render, verdict


@pytest.mark.parametrize(("texts", "expected"), [
    (10_000, 4.0),  # 313 requests of 32, 8 at once: 40 waves of 0.1 s
    (256, 0.1),  # 8 requests: one wave
    (100, 0.1),  # 4 requests: still one wave, a request cannot take less than L
    (257, 0.2),  # 9 requests: a second wave
    (1, 0.1),
])
def test_the_ideal_is_the_endpoints_requests_in_whole_waves_of_c_times_l(texts: int, expected: float) -> None:
    assert ideal_seconds(texts, batch=32, concurrency=8, latency=0.1) == pytest.approx(expected)


def test_efficiency_is_ideal_over_measured_and_zero_when_nothing_was_measured() -> None:
    assert efficiency(4.0, 5.0) == pytest.approx(0.8)
    assert efficiency(4.0, 0.0) == 0.0


def test_texts_repeat_after_the_distinct_count_and_a_new_label_gives_new_texts() -> None:
    texts = texts_for("a", 6, distinct=3)
    assert texts[:3] == texts[3:] and len(set(texts)) == 3
    assert not set(texts_for("b", 3)) & set(texts)


def test_worker_invocations_and_their_milliseconds_are_read_from_the_stacks_log_lines() -> None:
    lines = ["invoke WorkerFunction 2 records -> ok in 120 ms", "invoke ApiFunction POST /vectorize -> 202 in 30 ms",
             "invoke WorkerFunction 1 records -> ok in 80 ms", "ready api=http://x"]
    assert invocations(lines, "WorkerFunction").count == 2
    assert invocations(lines, "WorkerFunction").millis == 200
    assert invocations(lines, "ApiFunction").count == 1
    assert invocations([*lines, "invoke ApiFunction GET /jobs/j -> 200 in 5 ms"], "ApiFunction", "POST /vectorize") \
        == invocations(lines, "ApiFunction")


def test_an_items_size_is_its_attribute_names_and_values_as_dynamodb_bills_them() -> None:
    item = {"jobId": {"S": "abc"}, "index": {"N": "12"}, "vector": {"B": b"\x00" * 16}}
    assert item_bytes(item) == (5 + 3) + (5 + 2) + (6 + 16)
    assert write_units([100, 1024, 1025, 2500]) == 1 + 1 + 2 + 3


def _job(label: str, texts: int, seconds: float, requests: int, distinct: int | None = None) -> JobRun:
    return JobRun(label=label, job_id="j", texts=texts, distinct=distinct or texts, status="succeeded",
                  accept_seconds=0.5, seconds=seconds, hf_requests=requests, hf_texts=texts,
                  ideal=ideal_seconds(distinct or texts, 32, 8, 0.1), body_bytes=700_000)


@dataclass(frozen=True)
class PeerRow:
    name: str
    seconds: float
    items: int


def results() -> Results:
    job = _job("10,000 texts", 10_000, 8.0, 313)
    return Results(
        machine=Machine("2026-11-30 21:00 UTC", 2, "3.11.9", 1.0, 600.0),
        params=EndpointParams(latency=0.1, max_batch=32, concurrency=8, queue=64),
        worker_concurrency=4, chunk_size=256,
        chunk=ChunkRun(256, (0.2, 0.1, 0.12), 0.1),
        inline=InlineRun(100, (0.2, 0.25, 0.1), 0.1),
        job=job,
        scaling=[_job("1,000 texts", 1000, 2.0, 32), job, _job("50,000 texts", 50_000, 40.0, 1563)],
        cache_repeat=_job("10,000 texts again", 10_000, 3.0, 0),
        cache_distinct=_job("10,000 texts, 1,000 distinct", 10_000, 3.0, 32, distinct=1000),
        cache_baseline=_job("1,000 texts", 1000, 2.0, 32),
        peers=[PeerRow("huggingface_hub", 20.0, 2000), PeerRow("langchain", 10.0, 2000)],
        peer_texts=2000,
    )


def test_the_report_puts_each_figure_next_to_its_goal_with_its_verdict() -> None:
    text = render(results())
    assert "| one chunk of 256 texts (process_chunk) | 0.83 | >= 0.85 | misses |" in text
    assert "| 10,000-text job, POST to succeeded | 0.50 | >= 0.7 | misses |" in text
    assert "| inline, 100 texts | 0.50 | >= 0.8 | misses |" in text
    assert "| same 10,000-text job again: HF requests | 0 | 0 | meets |" in text
    assert "| 10,000 texts, 1,000 distinct: HF requests | 32 (vs 32 for 1,000 texts) | <= 32 | meets |" in text
    # 1,250 items/s against langchain's 200: 6.25x
    assert "| items/s vs the fastest peer (langchain) | 6.25x | > 1 (faster than every peer) | meets |" in text


def test_the_report_says_when_and_where_it_was_measured_and_with_which_parameters() -> None:
    text = render(results())
    assert "Measured 2026-11-30 21:00 UTC by `make bench` on 2 cores (Python 3.11.9)" in text
    assert "| L, seconds a request takes | 0.1 |" in text
    assert "| B, most texts a request (413 above, as TEI) | 32 |" in text
    assert "| worker invocations at once (LOCAL_WORKER_CONCURRENCY) | 4 |" in text


def test_the_report_gives_each_job_its_items_per_second_requests_and_efficiency() -> None:
    text = render(results())
    assert "| 50,000 texts | 50,000 | 50,000 | succeeded | 0.50 | 40.0 | 1,250 | 1,563 | 19.60 | 0.49 |" in text
    assert "| langchain | 2,000 | 10.00 | 200 | 6.25 |" in text
    assert "| one chunk, process_chunk | 256 | 0.200, 0.100, 0.120 | 0.120 | 0.100 | 0.83 |" in text


def test_parts_a_run_did_not_measure_are_said_to_be_missing() -> None:
    empty = Results(machine=Machine("d", 2, "3.11", 0.1, 1.0), params=EndpointParams(), worker_concurrency=2,
                    chunk_size=256, notes=["Peers: not there yet."])
    text = render(empty)
    assert "_nothing was measured_" in text
    assert "## Peers\n\n_not measured in this run (no peer clients available)_" in text
    assert "- Peers: not there yet." in text


def test_a_ceiling_goal_is_met_at_or_below_it_and_a_floor_goal_at_or_above_it() -> None:
    assert verdict(1.15, 1.15, at_most=True) == "meets"
    assert verdict(1.16, 1.15, at_most=True) == "misses"
    assert verdict(0.85, 0.85) == "meets"
    assert verdict(0.84, 0.85) == "misses"


def test_the_charts_are_pngs_under_100_kb(tmp_path: Path) -> None:
    clients_chart(tmp_path / "clients.png", ["a", "this service"], [200.0, 1250.0])
    scaling_chart(tmp_path / "scaling.png", [1000, 10_000, 50_000], [2.0, 8.0, 40.0], [32, 313, 1563])
    for name in ("clients.png", "scaling.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) < 100_000
