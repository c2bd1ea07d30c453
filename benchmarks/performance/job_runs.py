"""The service's runs, each timed and counted: one chunk, inline requests, whole jobs, and the cost counts.

Every run is against the fake endpoint (`fake_endpoint`), whose costs are known, so each time has
an ideal: the endpoint's requests, `ceil(n / B)` for `n` texts in requests of `B`, worked `C` at
a time, `L` seconds each. A request cannot take less than `L`, so the ideal counts whole waves:
`ceil(ceil(n / B) / C) x L` (the same as `ceil(n / B) / C x L` whenever the requests fill the
last wave). Efficiency is ideal / measured: 1.0 is the endpoint's own ceiling.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

from benchmarks.performance.fake_endpoint import RunningEndpoint
from local.job_client import wait_for_job
from local.launcher import ReadyStack

MODEL = "bench/model"


def ideal_seconds(texts: int, batch: int, concurrency: int, latency: float) -> float:
    """Takes a text count and the endpoint's B, C and L; returns the least time the endpoint needs for them."""
    requests = math.ceil(texts / batch)
    return math.ceil(requests / concurrency) * latency


def efficiency(ideal: float, measured: float) -> float:
    """Takes the ideal and the measured seconds; returns ideal / measured (0.0 when nothing was measured)."""
    return ideal / measured if measured > 0 else 0.0


def texts_for(label: str, count: int, distinct: int | None = None) -> list[str]:
    """`count` texts of about 60 characters, of which `distinct` (default all) differ; a fresh
    `label` gives texts no earlier run has sent, so the content cache cannot answer them.
    """
    distinct = distinct or count
    return [f"{label} text {i % distinct}: the quick brown fox no. {(i % distinct) * 7919 % 1000} jumps"
            for i in range(count)]


@dataclass(frozen=True)
class TimedRuns:
    """The same piece of work run several times (one chunk through `process_chunk`, or one
    `POST /vectorize` in sync mode) for `texts` texts: the seconds of each run and the ideal."""

    texts: int
    seconds: tuple[float, ...]
    ideal: float

    @property
    def median(self) -> float:
        """The median of the runs' seconds."""
        return statistics.median(self.seconds)


ChunkRun = TimedRuns
InlineRun = TimedRuns


@dataclass(frozen=True)
class JobRun:
    """One job from POST to its final status: what it was, how long, what the endpoint saw."""

    label: str
    job_id: str
    texts: int
    distinct: int
    status: str
    accept_seconds: float  # the POST's own time (the 202)
    seconds: float  # POST to final status
    hf_requests: int
    hf_texts: int
    ideal: float
    body_bytes: int


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """`env` laid over os.environ for the `with` block (boto3 reads AWS_ENDPOINT_URL and keys from it)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_chunk(worker_env: Mapping[str, str], endpoint: RunningEndpoint, texts: int, runs: int) -> ChunkRun:
    """Takes the worker's environment (moto, the fake endpoint, B and C), a chunk size and a run
    count; returns each run's seconds for one chunk through `process_chunk` with real Services.

    Each run is a new outside-producer job with texts of its own, so the content cache never answers.
    """
    from vectorizer import aio
    from vectorizer.jobs.message import ChunkItem, ChunkMessage
    from vectorizer.jobs.service import process_chunk
    from vectorizer.services import build_services
    from vectorizer.settings import settings_from

    p = endpoint.params
    seconds: list[float] = []
    with environment(worker_env):
        services = build_services(settings_from(os.environ))
        # As the worker runs it: cache writes held until its invocation ends (drained after each
        # run, outside the timing, as the worker drains them after its records).
        services.hf.hold_writes = True
        for run in range(runs + 1):  # the first run warms the clients and pools: not counted
            job_id = uuid.uuid4().hex
            items = [ChunkItem(index=i, text=text) for i, text in enumerate(texts_for(f"chunk {job_id}", texts))]
            message = ChunkMessage(job_id=job_id, chunk=0, chunks=1, total=texts, config={"model": MODEL},
                                   items=items)
            started = time.perf_counter()
            report = process_chunk(services, message, final_attempt=True, deadline=time.monotonic() + 120)
            took = time.perf_counter() - started
            aio.run(services.hf.drain())
            if report.succeeded != texts:
                raise RuntimeError(f"a benchmark chunk stored {report.succeeded} of {texts} vectors: {report}")
            if run:
                seconds.append(took)
    return ChunkRun(texts, tuple(seconds), ideal_seconds(texts, p.max_batch, p.concurrency, p.latency))


def run_inline(stack: ReadyStack, endpoint: RunningEndpoint, texts: int, runs: int) -> InlineRun:
    """Takes the stack, the endpoint, a text count and a run count; returns the seconds of each
    `POST /vectorize` (mode sync) with fresh texts, after one warm-up request not counted.
    """
    p = endpoint.params
    seconds: list[float] = []
    with httpx.Client(base_url=stack.api, timeout=60) as client:
        for run in range(runs + 1):
            body = {"config": {"model": MODEL}, "texts": texts_for(f"inline {uuid.uuid4().hex}", texts),
                    "mode": "sync"}
            started = time.perf_counter()
            answer = client.post("/vectorize", json=body)
            took = time.perf_counter() - started
            if answer.status_code != 200 or len(answer.json()["vectors"]) != texts:
                raise RuntimeError(f"inline request answered {answer.status_code}: {answer.text[:300]}")
            if run:
                seconds.append(took)
    return InlineRun(texts, tuple(seconds), ideal_seconds(texts, p.max_batch, p.concurrency, p.latency))


def run_job(stack: ReadyStack, endpoint: RunningEndpoint, label: str, texts: list[str], *,
            timeout: float) -> JobRun:
    """Takes the stack, the endpoint, a label and the texts; returns one async job's run, timed
    from the POST to its final status and counted at the endpoint (reset before the POST).
    A job still open after `timeout` seconds is reported with status `timed out`.
    """
    p = endpoint.params
    endpoint.reset()
    body = json.dumps({"config": {"model": MODEL}, "texts": texts, "mode": "async"}).encode()
    with httpx.Client(base_url=stack.api, timeout=120) as client:
        started = time.perf_counter()
        answer = client.post("/vectorize", content=body, headers={"Content-Type": "application/json"})
        accepted = time.perf_counter() - started
        if answer.status_code != 202:
            raise RuntimeError(f"job {label} answered {answer.status_code}: {answer.text[:300]}")
        job_id = answer.json()["jobId"]
        try:
            status = wait_for_job(client, job_id, timeout=timeout, interval=0.25).status
        except TimeoutError:
            status = "timed out"
        seconds = time.perf_counter() - started
    counts = endpoint.stats()
    return JobRun(label=label, job_id=job_id, texts=len(texts), distinct=len(set(texts)), status=status,
                  accept_seconds=accepted, seconds=seconds, hf_requests=counts.requests, hf_texts=counts.texts,
                  ideal=ideal_seconds(len(set(texts)), p.max_batch, p.concurrency, p.latency),
                  body_bytes=len(body))


# One line per invocation, from the local stack's function pools (local/functions_pool.py).
INVOKE_LINE = re.compile(r"^invoke (?P<function>\w+) (?P<describe>.*) -> .* in (?P<millis>\d+) ms$")


@dataclass(frozen=True)
class Invocations:
    """Invocations of one function read from the stack's log, and their total milliseconds."""

    count: int
    millis: float


def invocations(log_lines: list[str], function: str, describe: str = "") -> Invocations:
    """Takes stack log lines, a function name and optionally how its invocations start (`POST /vectorize`);
    returns how many such invocations the lines record and their total milliseconds.
    """
    found = [m for m in map(INVOKE_LINE.match, (line.strip() for line in log_lines)) if m]
    mine = [float(m["millis"]) for m in found if m["function"] == function and m["describe"].startswith(describe)]
    return Invocations(len(mine), sum(mine))


def table_items(moto_url: str, table: str) -> list[dict[str, Any]]:
    """Every item of `table` in the stack's moto."""
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")
    pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page.get("Items", [])]


def read_log(path: Path) -> list[str]:
    """The stack log's lines so far (empty when there is none yet)."""
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []
