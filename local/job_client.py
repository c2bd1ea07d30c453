"""A small HTTP client for the service's bulk jobs: wait for a job to end, read its vectors, compare them.

The demo, the end-to-end tests, the `sam local invoke` tests and the benchmark all follow a job the
same way, so they share this. The answers are read into the API's own models
(`vectorizer.api.models`), so a change of the job's shape shows up here as a validation error, not
as a KeyError somewhere downstream; the layer (`layers/vectorizer`) must be importable, as pytest's
`pythonpath` and the Makefile's `PYTHONPATH` make it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import httpx

from vectorizer.api.models import JobStatus, VectorItem, VectorsPage
from vectorizer.jobs.job_store import FINAL_STATUSES

# The largest page GET /jobs/{id}/vectors hands out: fewer round trips for the whole job.
MAX_PAGE = 1000


class JobDidNotEnd(TimeoutError):
    """A job still not in a final status when the wait ran out; `last` is what it said last, if anything."""

    def __init__(self, job_id: str, timeout: float, last: JobStatus | None) -> None:
        self.job_id = job_id
        self.last = last
        said = f"still {last.status} ({items_done(last)} of {last.total} items done)" if last else "never answered"
        super().__init__(f"job {job_id} {said} after {timeout:g} s")


def is_final(job: JobStatus) -> bool:
    """True when `job` is in a status it will not leave (succeeded, failed, partial)."""
    return job.status in FINAL_STATUSES


def items_done(job: JobStatus) -> int:
    """How many of the job's items are through, with a vector or with an error."""
    return job.succeeded + job.failed


def job_status(client: httpx.Client, job_id: str) -> JobStatus:
    """`GET /jobs/{job_id}` on `client` (whose base_url is the API), read into a JobStatus.

    Raises httpx.HTTPStatusError on any answer but 200 (404: no such job).
    """
    return JobStatus.model_validate(client.get(f"/jobs/{job_id}").raise_for_status().json())


def wait_for_job(
    client: httpx.Client,
    job_id: str,
    *,
    timeout: float = 300.0,
    interval: float = 0.5,
    on_progress: Callable[[JobStatus], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> JobStatus:
    """Poll `GET /jobs/{job_id}` every `interval` seconds until the job is final; returns its last status.

    `on_progress` is called with every status read (the final one included), e.g. to move a
    progress bar. Raises JobDidNotEnd when `timeout` seconds pass first, and httpx.HTTPStatusError
    when the API answers anything but 200. `clock` and `sleep` are there for tests.
    """
    deadline = clock() + timeout
    last: JobStatus | None = None
    while True:
        last = job_status(client, job_id)
        if on_progress is not None:
            on_progress(last)
        if is_final(last):
            return last
        if clock() + interval > deadline:
            raise JobDidNotEnd(job_id, timeout, last)
        sleep(interval)


def read_vectors(client: httpx.Client, job_id: str, *, page_size: int = MAX_PAGE) -> list[VectorItem]:
    """Every stored vector of the job, in index order, following `nextToken` page after page.

    Raises httpx.HTTPStatusError on any answer but 200.
    """
    items: list[VectorItem] = []
    token: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": page_size}
        if token is not None:
            params["nextToken"] = token
        page = VectorsPage.model_validate(
            client.get(f"/jobs/{job_id}/vectors", params=params).raise_for_status().json())
        items.extend(page.items)
        token = page.next_token
        if token is None:
            return items


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of the angle between two vectors of the same length; 0.0 when either is all zeros.

    Raises ValueError when the lengths differ.
    """
    if len(a) != len(b):
        raise ValueError(f"vectors of {len(a)} and {len(b)} dimensions")
    norms = math.hypot(*a) * math.hypot(*b)
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0
