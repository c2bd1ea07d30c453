"""The sweeper's decisions, on the in-memory job store: which open jobs are stalled, and how each closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.in_memory import InMemoryJobStore
from vectorizer.jobs.job_store import JobRecord, items_fingerprint
from vectorizer.jobs.sweeper import Closing, closing_for, iso, sweep

KEY = "5a" * 32
NOW = datetime(2026, 11, 30, 18, 0, 0, tzinfo=UTC)
STALL = 10_200
SUBMIT_STALL = 300


def record(*, idle: int, total: int | None = 15, chunks: int | None = 15, succeeded: int = 0, failed: int = 0,
           chunks_done: int = 0, submitting: bool = False, status: str = "running") -> JobRecord:
    stamp = iso(NOW - timedelta(seconds=idle))
    return JobRecord(
        job_id="job-1", status=status, total=total, chunks=chunks, chunks_done=chunks_done, succeeded=succeeded,
        failed=failed, model=None, dimensions=None, created_at=stamp, updated_at=stamp, submitting=submitting,
    )


def close(job: JobRecord) -> Closing | None:
    return closing_for(job, NOW, stall_seconds=STALL, submit_stall_seconds=SUBMIT_STALL)


def test_a_job_with_progress_within_the_bound_is_left_alone() -> None:
    assert close(record(idle=STALL - 1, succeeded=10, chunks_done=10)) is None
    assert close(record(idle=SUBMIT_STALL - 1, submitting=True)) is None


def test_a_job_stalled_past_the_bound_is_partial_with_its_missing_items_named() -> None:
    assert close(record(idle=STALL, succeeded=9, failed=1, chunks_done=10)) == Closing(
        "job-1", "partial", 5,
        "5 of 15 items never processed: no progress for 10200 s, longer than any chunk can take (10200 s)"
        "; 10 of 15 chunks counted, closed by the sweeper",
    )


def test_a_stalled_job_with_nothing_stored_is_failed() -> None:
    closing = close(record(idle=STALL + 5, failed=3, chunks_done=1, status="queued"))
    assert (closing.status, closing.missing) == ("failed", 12)


def test_a_job_whose_api_died_mid_submit_fails_after_the_short_bound_whatever_it_counted() -> None:
    assert close(record(idle=SUBMIT_STALL, succeeded=10, chunks_done=10, submitting=True)) == Closing(
        "job-1", "failed", 5,
        "5 of 15 items never processed: the API stopped before it had queued all the job's chunks"
        "; 10 of 15 chunks counted, closed by the sweeper",
    )


def test_a_producers_job_without_a_total_is_partial_when_chunks_are_missing() -> None:
    assert close(record(idle=STALL, total=None, chunks=4, succeeded=2, chunks_done=1)) == Closing(
        "job-1", "partial", 0,
        "2 items processed, the job's size unknown: no progress for 10200 s, longer than any chunk can take "
        "(10200 s); 1 of 4 chunks counted, closed by the sweeper",
    )


def test_an_open_ended_job_stalled_before_anything_was_counted_is_failed() -> None:
    closing = close(record(idle=STALL, total=None, chunks=None))
    assert (closing.status, closing.missing) == ("failed", 0)
    assert closing.reason.startswith("0 items processed, the job's size unknown: no progress for 10200 s")


@pytest.fixture
def jobs() -> InMemoryJobStore:
    return InMemoryJobStore()


def age(jobs: InMemoryJobStore, job_id: str, seconds: int) -> None:
    """Move a job's last progress back in time, as if it had waited that long."""
    job = jobs.records[job_id]
    job.updated_at = job.created_at = iso(NOW - timedelta(seconds=seconds))


def test_a_sweep_closes_only_the_stalled_jobs_and_the_counters_add_up(jobs: InMemoryJobStore) -> None:
    jobs.create("stalled", total=15, chunks=15, model="m", signing_key=KEY)
    jobs.mark_submitted("stalled")
    jobs.start("stalled", model="m", total=15, chunks=15)
    for chunk in range(10):
        jobs.count_chunk("stalled", chunk, fingerprint=items_fingerprint([chunk]), succeeded=1, failed=0,
                         dimensions=3)
    jobs.create("busy", total=4, chunks=2, model="m", signing_key=KEY)
    jobs.mark_submitted("busy")
    jobs.create("half-sent", total=3, chunks=3, model="m", signing_key=KEY)
    age(jobs, "stalled", STALL + 60)
    age(jobs, "busy", 60)
    age(jobs, "half-sent", SUBMIT_STALL + 1)

    report = sweep(jobs, NOW, stall_seconds=STALL, submit_stall_seconds=SUBMIT_STALL)

    assert [(c.job_id, c.status, c.missing) for c in report.closed] == [("half-sent", "failed", 3),
                                                                        ("stalled", "partial", 5)]
    assert (report.examined, report.moved) == (2, [])
    stalled = jobs.get("stalled", max_errors=0)
    assert (stalled.status, stalled.succeeded, stalled.failed, stalled.total, stalled.aborted) == (
        "partial", 10, 5, 15, True)
    assert stalled.failure_reason.startswith("5 of 15 items never processed: no progress for 10260 s")
    assert jobs.get("busy", max_errors=0).status == "queued"
    assert jobs.open == {"busy"}
    # A second sweep finds nothing more to do.
    again = sweep(jobs, NOW, stall_seconds=STALL, submit_stall_seconds=SUBMIT_STALL)
    assert (again.closed, again.examined) == ([], 0)


def test_a_job_that_moves_between_the_read_and_the_close_is_left_open(jobs: InMemoryJobStore) -> None:
    jobs.create("job-1", total=2, chunks=2, model="m", signing_key=KEY)
    jobs.mark_submitted("job-1")
    age(jobs, "job-1", STALL + 1)
    listed = jobs.open_jobs_idle_since

    def chunk_counted_meanwhile(cutoff: str) -> list[JobRecord]:
        found = listed(cutoff)
        jobs.count_chunk("job-1", 0, fingerprint=items_fingerprint([0]), succeeded=1, failed=0, dimensions=3)
        return found

    jobs.open_jobs_idle_since = chunk_counted_meanwhile  # type: ignore[method-assign]
    report = sweep(jobs, NOW, stall_seconds=STALL, submit_stall_seconds=SUBMIT_STALL)
    assert (report.closed, report.moved) == ([], ["job-1"])
    job = jobs.get("job-1", max_errors=0)
    assert (job.status, job.succeeded, job.failed, job.aborted) == ("queued", 1, 0, False)


def test_each_job_the_sweeper_closes_is_announced_once_and_no_other(jobs: InMemoryJobStore) -> None:
    for job_id in ("stalled", "busy"):
        jobs.create(job_id, total=2, chunks=2, model="m", signing_key=KEY)
        jobs.mark_submitted(job_id)
    age(jobs, "stalled", STALL + 1)
    age(jobs, "busy", 60)
    announced: list[str] = []
    sweep(jobs, NOW, stall_seconds=STALL, submit_stall_seconds=SUBMIT_STALL, on_closed=announced.append)
    sweep(jobs, NOW, stall_seconds=STALL, submit_stall_seconds=SUBMIT_STALL, on_closed=announced.append)
    assert announced == ["stalled"]
