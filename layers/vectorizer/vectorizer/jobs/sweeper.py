"""Closing stalled jobs: open jobs that made no progress for longer than any chunk can take.

A job stays open until its chunks are all counted. If one is never counted (the API died
while queueing them, a message was lost or purged), nothing else would ever close it: the
sweeper does, on a schedule, reading only the open jobs (the job store's sparse index).

How a stalled job is closed:
- its items never counted are *missing*: `total - succeeded - failed` (a job without a total
  has none it can name); they are added to `failed`, so `succeeded + failed == total` holds for
  every closed job, and `failureReason` says "N of M items never processed: why";
- the status follows the counters as for any job, the missing items (or chunks, for a job
  without a total) as failures: `failed` when nothing succeeded, else `partial`, except that a job whose chunks the API
  never finished queueing is `failed` whatever it counted, as a job the queue refused is;
- the close is conditional: it holds only if the job's last progress (`updatedAt`) is still
  the one read, so a chunk counted meanwhile wins and the job is looked at again next time;
  a closed job is `aborted`, so a chunk arriving after it is skipped, never counted.
- a file job still awaiting its upload (`awaiting_upload` says which) is `failed` with "no file
  was uploaded" once its link has expired (`upload_seconds`) and UPLOAD_MARGIN_SECONDS more have
  passed (a PUT begun in time may land late); never before, whatever the other bounds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vectorizer.jobs.job_store import JobRecord, final_status
from vectorizer.jobs.ports import StalledJobsPort

logger = logging.getLogger(__name__)
# After a file job's upload link expired, how long an upload begun in time may still take to land.
UPLOAD_MARGIN_SECONDS = 300
NO_UPLOAD = "no file was uploaded"


@dataclass(frozen=True)
class Closing:
    """How one stalled job is to be closed."""

    job_id: str
    status: str
    missing: int
    reason: str


@dataclass
class SweepReport:
    """What one sweep did: the jobs it closed, and those it left (progress meanwhile)."""

    closed: list[Closing] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    examined: int = 0


def iso(moment: datetime) -> str:
    """Takes an aware datetime; returns it as the job store stamps it (`2026-11-30T17:53:09.123Z`)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _idle_seconds(job: JobRecord, now: datetime) -> int:
    then = datetime.fromisoformat(job.updated_at.replace("Z", "+00:00"))
    return max(0, int((now - then).total_seconds()))


def may_await_upload(job: JobRecord) -> bool:
    """A job the API made with no count at all and not started: a file job not split yet, maybe awaiting its upload."""
    return job.origin == "api" and job.status == "queued" and job.total is None and job.chunks is None


def closing_for(
    job: JobRecord, now: datetime, *, stall_seconds: int, submit_stall_seconds: int, awaiting_upload: bool = False,
    upload_seconds: int = 0,
) -> Closing | None:
    """Takes an open job as read and the time; returns how to close it, or None while it may still move.

    A job still `submitting` (its API died before queueing every chunk) is stalled after
    `submit_stall_seconds` without progress; a file job `awaiting_upload` after its link's
    `upload_seconds` plus UPLOAD_MARGIN_SECONDS; any other after `stall_seconds`.
    """
    idle = _idle_seconds(job, now)
    if awaiting_upload:
        if idle < upload_seconds + UPLOAD_MARGIN_SECONDS:
            return None
        return Closing(job.job_id, "failed", 0, f"{NO_UPLOAD} in the {upload_seconds} s the upload link was valid "
                       "(and a margin): closed by the sweeper")
    bound = submit_stall_seconds if job.submitting else stall_seconds
    if idle < bound:
        return None
    counted = job.succeeded + job.failed
    missing = max(0, job.total - counted) if job.total is not None else 0
    of = f"{missing} of {job.total} items never processed" if job.total is not None \
        else f"{counted} items processed, the job's size unknown"
    chunks = f"{job.chunks_done} of {job.chunks} chunks counted" if job.chunks is not None \
        else f"{job.chunks_done} chunks counted"
    if job.submitting:
        why = "the API stopped before it had queued all the job's chunks"
        status = "failed"
    else:
        why = f"no progress for {idle} s, longer than any chunk can take ({stall_seconds} s)"
        # Without a total the missing items cannot be counted, but missing chunks still mean a gap.
        gap = missing or int(job.chunks is not None and job.chunks_done < job.chunks)
        status = final_status(job.succeeded, job.failed + gap) if job.succeeded else "failed"
    return Closing(job.job_id, status, missing, f"{of}: {why}; {chunks}, closed by the sweeper")


def sweep(
    jobs: StalledJobsPort, now: datetime, *, stall_seconds: int, submit_stall_seconds: int,
    on_closed: Callable[[str], object] = lambda job_id: None,
    awaits_upload: Callable[[str], bool] = lambda job_id: False, upload_seconds: int = 0,
) -> SweepReport:
    """Close every open job stalled at `now` (an aware datetime); returns what was done.

    Reads only open jobs idle for the shorter of the two bounds, then closes each one
    `closing_for` says is stalled, conditionally on its progress not having moved, and calls
    `on_closed` with the id of each job it closed (to announce its end like any other).
    `awaits_upload` says whether a file job not split yet still awaits its upload (a read of its
    file state, made only for jobs `may_await_upload` picks), whose link lasts `upload_seconds`.
    """
    report = SweepReport()
    cutoff = iso(now - timedelta(seconds=min(stall_seconds, submit_stall_seconds)))
    for job in jobs.open_jobs_idle_since(cutoff):
        report.examined += 1
        closing = closing_for(job, now, stall_seconds=stall_seconds, submit_stall_seconds=submit_stall_seconds,
                              awaiting_upload=may_await_upload(job) and awaits_upload(job.job_id),
                              upload_seconds=upload_seconds)
        if closing is None:
            continue
        if jobs.close_stalled(
            job.job_id, seen_updated_at=job.updated_at, status=closing.status, missing=closing.missing,
            reason=closing.reason,
        ):
            logger.warning("stalled job closed", extra={"job_id": job.job_id, "status": closing.status,
                                                        "missing": closing.missing})
            report.closed.append(closing)
            on_closed(job.job_id)
        else:
            report.moved.append(job.job_id)
    return report
