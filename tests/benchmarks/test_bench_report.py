"""The performance benchmark's pure parts: the ideal time, the counting helpers and the report's text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.performance.charts import clients_chart, scaling_chart
from benchmarks.performance.costs import MeasuredCounts, cost_of_million
from benchmarks.performance.fake_endpoint import EndpointParams
from benchmarks.performance.footprint import FootprintRow, RealModelRow
from benchmarks.performance.job_runs import (
    ChunkRun,
    InlineRun,
    JobRun,
    efficiency,
    ideal_seconds,
    invocations,
    texts_for,
)
from benchmarks.performance.peers import PeerRow
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


def _job(label: str, texts: int, seconds: float, requests: int, distinct: int | None = None) -> JobRun:
    return JobRun(label=label, job_id="j", texts=texts, distinct=distinct or texts, status="succeeded",
                  accept_seconds=0.5, seconds=seconds, hf_requests=requests, hf_texts=texts,
                  ideal=ideal_seconds(distinct or texts, 32, 8, 0.1), body_bytes=700_000)


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
        peer_service=_job("2,000 peer texts", 2000, 4.0, 63),
    )


def whole_results() -> Results:
    return dataclasses.replace(
        results(),
        footprint=[FootprintRow("api", 90.0, 60.0), FootprintRow("worker", 150.0, 60.0)],
        bytes_per_vector=1690,
        real_model=RealModelRow(1858, 20.0, 22.0, 3.5, 10),
        largest_accept=_job("50,000 texts", 50_000, 40.0, 1563),
        largest_binding="MAX_TEXTS (50,000 texts)",
        counts=COUNTS,
        cost=cost_of_million(COUNTS),
    )


COUNTS = MeasuredCounts(vectors=10_000, lambda_gb_seconds=100.0, lambda_requests=20, sqs_requests=40,
                        dynamo_write_units=40_000.0, dynamo_read_units=5000.0, stored_bytes=16_900_000)


def test_the_report_puts_each_figure_next_to_its_goal_with_its_verdict() -> None:
    text = render(results())
    assert "| one chunk of 256 texts (process_chunk) | 0.83 | >= 0.85 | misses |" in text
    assert "| 10,000-text job, POST to succeeded | 0.50 | >= 0.7 | misses |" in text
    assert "| inline, 100 texts | 0.50 | >= 0.8 | misses |" in text
    assert "| same 10,000-text job again: HF requests | 0 | 0 | meets |" in text
    assert "| 10,000 texts, 1,000 distinct: HF requests | 32 (vs 32 for 1,000 texts) | <= 32 | meets |" in text


def test_the_service_is_compared_with_every_peer_on_the_same_texts_not_with_another_job() -> None:
    text = render(results())
    # The service's 2,000 peer texts in 4 s: 500 items/s, against 100 and 200 (not the 10k job's 1,250).
    assert "| items/s, service vs huggingface_hub (2,000 same texts) | 500 vs 100 (5.00x) | > 1x | meets |" in text
    assert "| items/s, service vs langchain (2,000 same texts) | 500 vs 200 (2.50x) | > 1x | meets |" in text
    assert "| langchain | 2,000 | 10.00 | 200 | - | 2.50 |" in text  # no ideal known for this peer
    # The service's ideal for 2,000 texts: 63 requests in 8 waves of 0.1 s, 0.8 s of its 4 s.
    assert '| this service (job "2,000 peer texts", succeeded) | 2,000 | 4.00 | 500 | 0.20 | 1.00 |' in text


def test_a_peer_faster_than_the_service_is_a_miss() -> None:
    text = render(dataclasses.replace(results(), peers=[PeerRow("quick", 1.0, 2000)]))
    assert "| items/s, service vs quick (2,000 same texts) | 500 vs 2,000 (0.25x) | > 1x | misses |" in text


def test_a_peer_with_a_known_ideal_shows_how_much_of_the_endpoint_it_got() -> None:
    text = render(dataclasses.replace(results(), peers=[PeerRow("quick", 1.0, 2000, ideal=0.8)]))
    assert ("| items/s, service vs quick (2,000 same texts) | 500 vs 2,000 (0.25x; the peer at 0.80 of the"
            " endpoint's ceiling) | > 1x | misses |") in text
    assert "| quick | 2,000 | 1.00 | 2,000 | 0.80 | 0.25 |" in text


def test_a_peer_that_failed_is_shown_failed_with_its_reason_not_as_slow() -> None:
    reason = "weaviate_like: failed with status: 413 error: batch size 100 > maximum allowed batch size 32"
    text = render(dataclasses.replace(results(), peers=[PeerRow("weaviate_like", 0.02, 0, reason)]))
    assert ("| items/s, service vs weaviate_like (same texts) | the peer failed: weaviate_like: failed with"
            " status: 413 error: batch size 100... | > 1x | meets (the peer could not finish) |") in text
    assert f"| weaviate_like | 0 | 0.02 | failed: {reason} | - |" in text


def test_imports_bytes_and_the_real_model_stand_next_to_their_goals() -> None:
    text = render(whole_results())
    assert "| `import app` of api / `import boto3` | 1.50x | <= 2x | meets |" in text
    assert "| `import app` of worker / `import boto3` | 2.50x | <= 2x | misses |" in text
    assert "| bytes per stored 384-dim vector | 1,690 | <= 1,686 (4 x 384 + 150) | misses |" in text
    assert "| real model, 1,858-text job to succeeded / endpoint alone | 1.10 | <= 1.15 | meets |" in text
    assert "| 202 of the largest request (50,000 texts) | 0.50 s | reported | - |" in text
    assert "| worker | 150 | 60 | 2.50 | misses |" in text


def test_the_real_model_table_keeps_reading_back_apart_and_says_the_stack_was_niced() -> None:
    text = render(whole_results())
    assert "| job, POST to succeeded | 1,858 | 22.00 | 84 | 1.10 | meets (<= 1.15) |" in text
    assert "| reading the vectors back | 1,858 | 3.50 | 531 | - | - |" in text
    assert "stack at nice 10 (LOCAL_STACK_NICE)" in text


def test_the_cost_of_a_million_vectors_is_in_the_goals_and_priced_in_its_own_section() -> None:
    text = render(whole_results())
    table = cost_of_million(COUNTS)
    assert f"| cost of 1M vectors: AWS (+ HF endpoint, assumed) | ${table.aws_usd:.2f} (+ ${table.hf_usd:.2f}) |" \
        in text
    assert table.to_markdown() in text
    assert "| 10,000 | 100.000 | 20 | 40 | 40,000.000 | 5,000.000 | 16,900,000 |" in text


def test_the_report_says_when_and_where_it_was_measured_and_with_which_parameters() -> None:
    text = render(results())
    assert "Measured 2026-11-30 21:00 UTC by `make bench` on 2 cores (Python 3.11.9)" in text
    assert "| L, seconds a request takes | 0.1 |" in text
    assert "| B, most texts a request (413 above, as TEI) | 32 |" in text
    assert "| worker invocations at once (LOCAL_WORKER_CONCURRENCY) | 4 |" in text


def test_the_report_gives_each_job_its_items_per_second_requests_and_efficiency() -> None:
    text = render(results())
    assert "| 50,000 texts | 50,000 | 50,000 | succeeded | 0.50 | 40.0 | 1,250 | 1,563 | 19.60 | 0.49 |" in text
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


def test_the_real_model_table_shows_the_endpoint_fed_by_length_only_when_measured() -> None:
    grouped = dataclasses.replace(whole_results(), real_model=RealModelRow(1858, 20.0, 16.0, 3.5, 10, 12.5))
    text = render(grouped)
    assert "| endpoint alone, the whole set sorted by length | 1,858 | 12.50 | 149 | 0.62 | job / this: 1.28 |" in text
    assert "endpoint alone, the whole set sorted by length" not in render(whole_results())
