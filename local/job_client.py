"""A small HTTP client for the service's bulk jobs: wait for a job to end, read its vectors, compare them.

The demo, the end-to-end tests, the `sam local invoke` tests and the benchmark all follow a job the
same way, so they share this. The answers are read into the API's own models
(`vectorizer.api.models`), so a change of the job's shape shows up here as a validation error, not
as a KeyError somewhere downstream; the layer (`layers/vectorizer`) must be importable, as pytest's
`pythonpath` and the Makefile's `PYTHONPATH` make it.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from vectorizer.api.models import JobStatus, VectorItem, VectorsPage
from vectorizer.files.layout import manifest_key
from vectorizer.files.manifest import FailedItem, Manifest
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


# File jobs (POST /jobs): submit with the file's bytes, then read the output the job's links point at.


def submit_file_job(client: httpx.Client, body: dict[str, Any], data: bytes | None = None) -> str:
    """`POST /jobs` with `body`; when the answer carries an upload link, PUT `data` to it. Returns the job id.

    The PUT goes through a client of its own: the API's headers (its key, a caller's token) never
    travel to S3. Raises httpx.HTTPStatusError on any answer but 202 (and any PUT answer but 2xx),
    ValueError when an upload link came back and there is no `data` to send.
    """
    answer = client.post("/jobs", json=body)
    if answer.status_code != 202:
        answer.raise_for_status()
        raise httpx.HTTPStatusError(f"POST /jobs answered {answer.status_code}: {answer.text}",
                                    request=answer.request, response=answer)
    accepted = answer.json()
    upload = accepted.get("upload")
    if upload is not None:
        if data is None:
            raise ValueError(f"job {accepted['jobId']} awaits an upload and there is no file to send")
        with httpx.Client(timeout=client.timeout) as s3:
            s3.request(upload["method"], upload["url"], content=data).raise_for_status()
    return str(accepted["jobId"])


class ShardRow(BaseModel):
    """One output row of a file job: its line in the input, its id and its vector (index from the ids file)."""

    model_config = ConfigDict(frozen=True)

    index: int | None = None
    line: int | None
    id: str | None
    vector: list[float]


class FileJobOutput(BaseModel):
    """A file job's whole output: its manifest, its failures, every shard's rows read from the
    JSONL files (`rows`) and from the .npy matrices with their ids files (`matrix_rows`), in
    chunk order, and each object's size in bytes by its key (`sizes`, in the order read)."""

    manifest: Manifest
    failures: list[FailedItem]
    rows: list[ShardRow]
    matrix_rows: list[ShardRow]
    sizes: dict[str, int]


def wait_for_file_job(
    client: httpx.Client, job_id: str, *, timeout: float = 600.0, interval: float = 1.0,
    on_progress: Callable[[JobStatus], None] | None = None,
) -> JobStatus:
    """Poll `GET /jobs/{job_id}` until the file job is final AND its output links are there (its
    manifest is written after the job ends); returns that status.

    A final status alone is not the end of a file job: while it is being split, its counts cover
    only the chunks queued so far. Raises JobDidNotEnd when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/jobs/{job_id}").raise_for_status().json()
        last = JobStatus.model_validate(answer)
        if on_progress is not None:
            on_progress(last)
        if is_final(last) and answer.get("output") is not None:
            return last
        if time.monotonic() + interval > deadline:
            raise JobDidNotEnd(job_id, timeout, last)
        time.sleep(interval)


def output_links(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job's `output` links from `GET /jobs/{job_id}`, every shard's, following `nextToken`.

    Returns the first answer's output with `shards` holding all pages' shards. Raises
    httpx.HTTPStatusError on any answer but 200, ValueError when the job has no output (yet).
    """
    first: dict[str, Any] | None = None
    shards: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    while True:
        output = client.get(f"/jobs/{job_id}", params=params).raise_for_status().json().get("output")
        if output is None:
            raise ValueError(f"job {job_id} has no output links")
        first = first or output
        shards.extend(output["shards"])
        if not output.get("nextToken"):
            return {**first, "shards": shards}
        params = {"nextToken": output["nextToken"]}


def _jsonl(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def read_file_output(client: httpx.Client, job_id: str) -> FileJobOutput:
    """Every object of a finished file job, downloaded by its presigned links and decoded.

    Raises httpx.HTTPStatusError when a link does not answer 200, ValueError when a shard's matrix
    and ids file disagree on its row count.
    """
    import numpy  # the local tools' venv has it; the layer does not need it

    links = output_links(client, job_id)
    sizes: dict[str, int] = {}
    with httpx.Client(timeout=client.timeout) as s3:

        def get(url: str, key: str) -> bytes:
            body = s3.get(url).raise_for_status().content
            sizes[key] = len(body)
            return body

        manifest = Manifest.model_validate_json(get(links["manifest"], manifest_key(job_id)))
        keys = {shard.chunk: shard for shard in manifest.shards}
        failures = [FailedItem.model_validate(row) for row in _jsonl(get(links["failures"], manifest.failures.key))]
        rows: list[ShardRow] = []
        matrix_rows: list[ShardRow] = []
        for shard in links["shards"]:
            named = keys[shard["chunk"]]
            rows += [ShardRow.model_validate(row) for row in _jsonl(get(shard["vectors"], named.vectors))]
            matrix = numpy.load(io.BytesIO(get(shard["matrix"], named.matrix)), allow_pickle=False)
            ids = _jsonl(get(shard["ids"], named.ids))
            if len(ids) != matrix.shape[0]:
                raise ValueError(f"shard {shard['chunk']}: {matrix.shape[0]} matrix rows, {len(ids)} ids")
            matrix_rows += [ShardRow(index=row["index"], line=row["line"], id=row["id"], vector=vector.tolist())
                            for row, vector in zip(ids, matrix, strict=True)]
    return FileJobOutput(manifest=manifest, failures=failures, rows=rows, matrix_rows=matrix_rows, sizes=sizes)
