"""Where a chunk's time goes: the stage clock on fake clocks, the chunk's report, the worker's log and metrics.

Every clock here is fake and moves only when a fake HF or a fake store says so, so each figure is
exact; no assertion depends on how fast this machine runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from local.functions import load_function
from tests.fakes.in_memory import (
    FakeDefaultToken,
    FakeEmbedder,
    InMemoryJobStore,
    InMemoryServices,
    InMemoryVectorStore,
)
from vectorizer.config import ModuleConfig, Target
from vectorizer.hf.client import EmbedOutcome
from vectorizer.hf.usage import HfUsage
from vectorizer.jobs.message import ChunkItem, ChunkMessage
from vectorizer.jobs.service import ChunkReport, process_chunk
from vectorizer.jobs.stage_clock import DYNAMO, HF, StageClock, StageTimes, timed
from vectorizer.settings import Settings

DEFAULT = "hf_defaultTOKENforUnitTests000"


@dataclass
class FakeClocks:
    """A wall clock and a CPU clock that move only when told to (binary fractions: sums stay exact)."""

    wall_now: float = 100.0
    cpu_now: float = 7.0

    def wall(self) -> float:
        return self.wall_now

    def cpu(self) -> float:
        return self.cpu_now

    def stage_clock(self) -> StageClock:
        return StageClock(wall=self.wall, cpu=self.cpu)


class Ticking:
    """Stands in for a store: each method call moves the fake wall clock on by `step` seconds."""

    def __init__(self, inner: Any, clocks: FakeClocks, step: float) -> None:
        self._inner, self._clocks, self._step = inner, clocks, step
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self._clocks.wall_now += self._step
            return attribute(*args, **kwargs)

        return call


class SlowEmbedder:
    """The fake embedder, waiting 2 s on HF (wall) and spending 0.125 s of CPU on each call."""

    def __init__(self, clocks: FakeClocks) -> None:
        self.inner, self.clocks = FakeEmbedder(), clocks

    async def embed(self, target: Target, texts: list[str], token: str | None, deadline: float) -> EmbedOutcome:
        self.clocks.wall_now += 1.0
        await asyncio.sleep(0)  # the answer comes later: the stage lasts until it is awaited
        self.clocks.wall_now += 1.0
        self.clocks.cpu_now += 0.125
        return await self.inner.embed(target, texts, token, deadline)


def message(texts: tuple[str, ...] = ("a", "bb", "ccc")) -> ChunkMessage:
    items = [ChunkItem(index=i, id=f"doc-{i}", text=t) for i, t in enumerate(texts)]
    return ChunkMessage(job_id="ext-1", chunk=0, config=ModuleConfig(model="org/model"), items=items)


def timed_deps(clocks: FakeClocks) -> tuple[InMemoryServices, Ticking, Ticking]:
    jobs = Ticking(InMemoryJobStore(), clocks, 0.25)
    vectors = Ticking(InMemoryVectorStore(), clocks, 0.5)
    deps = InMemoryServices(
        settings=Settings(), default_token=FakeDefaultToken(DEFAULT), hf=SlowEmbedder(clocks),
        jobs=jobs, vectors=vectors,
    )
    return deps, jobs, vectors


# ------------------------------------------------------------------ the clock itself


def test_a_stage_adds_up_the_wall_time_spent_inside_it_over_every_visit() -> None:
    clocks = FakeClocks()
    clock = clocks.stage_clock()
    with clock.stage(HF):
        clocks.wall_now += 1.5
    clocks.wall_now += 10.0  # outside any stage
    with clock.stage(HF):
        clocks.wall_now += 0.25
    with clock.stage(DYNAMO):
        clocks.wall_now += 0.125
    assert clock.seconds == {HF: 1.75, DYNAMO: 0.125}
    assert clock.times() == StageTimes(hf_seconds=1.75, dynamo_seconds=0.125, cpu_seconds=0.0, total_seconds=11.875)


def test_a_stage_that_raises_still_counts_its_time() -> None:
    clocks = FakeClocks()
    clock = clocks.stage_clock()
    with pytest.raises(RuntimeError), clock.stage(DYNAMO):
        clocks.wall_now += 3.0
        raise RuntimeError("throttled")
    assert clock.times().dynamo_seconds == 3.0


def test_cpu_seconds_count_from_the_clocks_making_not_from_the_process_start() -> None:
    clocks = FakeClocks(cpu_now=42.0)
    clock = clocks.stage_clock()
    clocks.cpu_now += 0.375
    assert clock.times() == StageTimes(cpu_seconds=0.375)


def test_timed_counts_every_call_and_an_awaited_call_until_its_end() -> None:
    clocks = FakeClocks()
    clock = clocks.stage_clock()

    class Store:
        table = "vectors"

        def put(self, n: int) -> int:
            clocks.wall_now += 0.5
            return n * 2

        async def embed(self) -> str:
            clocks.wall_now += 1.0
            await asyncio.sleep(0)
            clocks.wall_now += 1.0
            return "done"

    store = timed(Store(), clock, DYNAMO)
    assert (store.put(1), store.put(2), store.table) == (2, 4, "vectors")
    assert clock.seconds == {DYNAMO: 1.0}
    hf = timed(Store(), clock, HF)
    assert asyncio.run(hf.embed()) == "done"
    assert clock.seconds == {DYNAMO: 1.0, HF: 2.0}


# ------------------------------------------------------------------ a chunk's report


def test_a_chunks_report_says_how_long_it_waited_on_hf_and_dynamodb_and_its_cpu_time() -> None:
    clocks = FakeClocks()
    deps, jobs, vectors = timed_deps(clocks)
    report = process_chunk(
        deps, message(), final_attempt=False, deadline=time.monotonic() + 30, clock=clocks.stage_clock()
    )
    assert (report.succeeded, report.failed, report.job_status) == (3, 0, "succeeded")
    assert jobs.calls > 0 and vectors.calls > 0
    dynamo = 0.25 * jobs.calls + 0.5 * vectors.calls
    assert report.times == StageTimes(hf_seconds=2.0, dynamo_seconds=dynamo, cpu_seconds=0.125,
                                      total_seconds=2.0 + dynamo)


def test_a_redelivered_chunk_already_counted_spends_time_on_dynamodb_only() -> None:
    clocks = FakeClocks()
    deps, jobs, vectors = timed_deps(clocks)
    process_chunk(deps, message(), final_attempt=False, deadline=time.monotonic() + 30, clock=clocks.stage_clock())
    jobs.calls = vectors.calls = 0
    report = process_chunk(
        deps, message(), final_attempt=False, deadline=time.monotonic() + 30, clock=clocks.stage_clock()
    )
    assert report.duplicate
    dynamo = 0.25 * jobs.calls + 0.5 * vectors.calls
    assert dynamo > 0
    assert report.times == StageTimes(hf_seconds=0.0, dynamo_seconds=dynamo, cpu_seconds=0.0, total_seconds=dynamo)


def test_on_the_real_clocks_each_stage_fits_within_the_chunks_wall_time() -> None:
    deps = InMemoryServices(settings=Settings(HF_BATCH_SIZE=1), default_token=FakeDefaultToken(DEFAULT))
    times = process_chunk(deps, message(), final_attempt=False, deadline=time.monotonic() + 30).times
    assert min(times.hf_seconds, times.dynamo_seconds, times.cpu_seconds) >= 0.0
    assert times.hf_seconds > 0.0 and times.dynamo_seconds > 0.0
    # HF and DynamoDB waits overlap (a batch is stored while the next is at HF): each stage fits
    # within the wall time, their sum need not.
    assert times.hf_seconds <= times.total_seconds and times.dynamo_seconds <= times.total_seconds


def test_overlapping_visits_of_a_stage_count_the_time_at_least_one_was_under_way() -> None:
    clocks = FakeClocks()
    clock = clocks.stage_clock()
    first, second = clock.stage(HF), clock.stage(HF)
    first.__enter__()
    clocks.wall_now += 1.0
    second.__enter__()
    clocks.wall_now += 2.0
    first.__exit__(None, None, None)
    clocks.wall_now += 0.5
    second.__exit__(None, None, None)
    clocks.wall_now += 4.0  # outside any visit
    with clock.stage(HF):
        clocks.wall_now += 0.25
    assert clock.times().hf_seconds == 3.75


def test_stage_times_do_not_make_two_reports_of_the_same_work_differ() -> None:
    assert ChunkReport("j", 0, 1, 0, duplicate=False, job_status=None, times=StageTimes(hf_seconds=1.0)) == (
        ChunkReport("j", 0, 1, 0, duplicate=False, job_status=None))


# ------------------------------------------------------------------ the worker's log line and metrics


def worker_reports(
    report: ChunkReport, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> tuple[dict, list[tuple[str, str, float]]]:
    """The worker's `chunk done` log record and its metrics for one record whose chunk reports `report`."""
    worker = load_function("worker")
    monkeypatch.setattr(worker, "services", lambda: SimpleNamespace(settings=Settings()))
    monkeypatch.setattr(worker, "process_chunk", lambda *args, **kwargs: report)
    metrics: list[tuple[str, str, float]] = []
    monkeypatch.setattr(
        worker.metrics, "add_metric", lambda name, unit, value: metrics.append((name, unit, value))
    )
    record = SQSRecord({"messageId": "m-1", "body": message().to_json(),
                        "attributes": {"ApproximateReceiveCount": "1"}})
    caplog.set_level("INFO")
    worker._handle(record, time.monotonic() + 30)
    [done] = [vars(r) for r in caplog.records if r.getMessage() == "chunk done"]
    return done, metrics


def test_the_chunk_done_line_and_the_metrics_carry_the_stage_times(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    times = StageTimes(hf_seconds=2.5, dynamo_seconds=0.75, cpu_seconds=0.125, total_seconds=3.5)
    report = ChunkReport("ext-1", 0, 3, 0, duplicate=False, job_status="running", times=times)

    done, metrics = worker_reports(report, monkeypatch, caplog)
    assert {key: done[key] for key in ("hf_seconds", "dynamo_seconds", "cpu_seconds", "total_seconds")} == {
        "hf_seconds": 2.5, "dynamo_seconds": 0.75, "cpu_seconds": 0.125, "total_seconds": 3.5}
    assert [m for m in metrics if m[0].startswith("Chunk")] == [
        ("ChunkHfSeconds", MetricUnit.Seconds, 2.5),
        ("ChunkDynamoSeconds", MetricUnit.Seconds, 0.75),
        ("ChunkCpuSeconds", MetricUnit.Seconds, 0.125),
    ]
    json.dumps(done["hf_seconds"])  # a plain number, as the JSON log line holds it


def test_the_chunk_done_line_and_the_metrics_carry_what_hf_was_asked_and_what_was_spared(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    usage = HfUsage(texts=10, cache_hits=4, sent=3, requests=2, requests_saved=3)
    report = ChunkReport("ext-1", 0, 10, 0, duplicate=False, job_status="running", usage=usage)

    done, metrics = worker_reports(report, monkeypatch, caplog)
    assert {key: done[key] for key in ("texts", "cache_hits", "hf_texts_sent", "hf_requests", "hf_requests_saved")} == {
        "texts": 10, "cache_hits": 4, "hf_texts_sent": 3, "hf_requests": 2, "hf_requests_saved": 3}
    assert [m for m in metrics if m[0] in ("CacheHits", "HfRequests", "HfRequestsSaved")] == [
        ("CacheHits", MetricUnit.Count, 4), ("HfRequests", MetricUnit.Count, 2),
        ("HfRequestsSaved", MetricUnit.Count, 3),
    ]
