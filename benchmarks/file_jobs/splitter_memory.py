"""The splitter's peak memory and speed on a JSONL file in moto S3, at two file sizes.

`measure(lines)` writes a JSONL file of `lines` lines to a bucket in moto, then runs
`files.splitter.split_step` to the end of it (one step, no deadline) with the real S3 adapter
(`files.objects.S3Objects`) and a queue that counts each message's bytes and then drops it. The
peak is tracemalloc's, traced from just before the first step to the end: what the splitter,
boto3's streamed read and the messages in flight allocate in this process.

moto answers from a server in a child process (`python -m moto.server`) by default, not from
`mock_aws` in this process: moto reads an object's whole value into memory for every GET (a ranged
one too), so in-process moto adds a copy of the file to the peak that a real S3 never makes.
`backend="mock_aws"` measures that way anyway, to show the difference.

    PYTHONPATH=layers/vectorizer .venv/bin/python -m benchmarks.file_jobs.splitter_memory
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any, Literal

import boto3
import httpx
from botocore.config import Config
from moto import mock_aws
from pydantic import BaseModel, ConfigDict

from vectorizer.files.cursor import SplitCursor
from vectorizer.files.objects import READ_BLOCK_BYTES, S3Objects
from vectorizer.files.splitter import FILE_CHUNK_SIZE, FileSplitJob, SplitLimits, split_step

Backend = Literal["server", "mock_aws"]
BUCKET = "splitter-memory"
KEY = "uploads/bench/input.jsonl"
SIZES = (50_000, 200_000)
# The API's defaults (settings.MAX_MESSAGE_BYTES, MAX_TEXT_CHARS).
LIMITS = SplitLimits(chunk_size=FILE_CHUNK_SIZE, max_message_bytes=900_000, max_text_chars=20_000)
REGION = "us-east-1"


class SplitterMemory(BaseModel):
    """One measured split: lines in the file, its bytes, the messages and their bytes queued, the
    tracemalloc peak in bytes, and the seconds and lines a second of a second split run untraced
    (tracemalloc slows every allocation down)."""

    model_config = ConfigDict(frozen=True)

    lines: int
    file_bytes: int
    messages: int
    message_bytes: int
    peak_bytes: int
    seconds: float
    lines_per_second: float


class CountingQueue:
    """A work queue that counts the messages sent and their bytes, and keeps none of them."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    def send(self, bodies: list[str]) -> None:
        """Count the bodies of one send, then let them go."""
        self.messages += len(bodies)
        self.bytes += sum(len(body.encode("utf-8")) for body in bodies)


class LastCursor:
    """Where the split's cursor is saved: only the last one is kept."""

    def __init__(self) -> None:
        self.cursor: SplitCursor | None = None

    def save_cursor(self, job_id: str, cursor: SplitCursor) -> None:
        """Keep `cursor` as the job's latest."""
        self.cursor = cursor


def jsonl_line(number: int) -> bytes:
    """Takes a line number (from 1); returns that line of the generated file: an id and a short text."""
    row = {"id": f"doc-{number}", "text": f"line {number}: a short sentence about file jobs and their shards"}
    return json.dumps(row, separators=(",", ":")).encode("utf-8") + b"\n"


def _upload(s3: Any, lines: int) -> int:
    # Written to disk and uploaded from there: the file is never whole in this process's memory.
    with tempfile.TemporaryFile() as spool:
        for number in range(1, lines + 1):
            spool.write(jsonl_line(number))
        size = spool.tell()
        spool.seek(0)
        s3.upload_fileobj(spool, BUCKET, KEY)
    return size


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in a child process on a free loopback port; yields its URL, stops it after."""
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/moto-api/", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("moto server did not start")
            time.sleep(0.2)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


@contextlib.contextmanager
def _s3_client(backend: Backend) -> Iterator[Any]:
    fake = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    saved = {name: os.environ.get(name) for name in [*fake, "AWS_ENDPOINT_URL"]}
    os.environ.update(fake)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        config = Config(signature_version="s3v4")
        if backend == "mock_aws":
            with mock_aws():
                yield boto3.client("s3", region_name=REGION, config=config)
        else:
            with moto_server() as url:
                yield boto3.client("s3", region_name=REGION, endpoint_url=url, config=config)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


JOB = FileSplitJob(
    job_id="bench", bucket=BUCKET, key=KEY, file_format="jsonl", config={"model": "org/model"},
    sealed_token="c2VhbGVk", signing_key="k" * 64,
)


def _split(reader: S3Objects, lines: int, limits: SplitLimits) -> CountingQueue:
    queue = CountingQueue()
    result = split_step(
        JOB, SplitCursor(), reader=reader, queue=queue, state=LastCursor(), limits=limits, deadline=float("inf")
    )
    assert result.done and result.total == lines, f"split ended at {result.total} of {lines} lines"
    return queue


def measure(
    lines: int, *, backend: Backend = "server", block_bytes: int = READ_BLOCK_BYTES,
    limits: SplitLimits = LIMITS, timed: bool = True,
) -> SplitterMemory:
    """Takes a number of lines, where moto runs, the S3 read's block size and the split limits;
    returns the split's peak memory (traced run), its counts, and (`timed`) its speed (untraced run;
    0 when not timed).

    Each split runs in one step to its end; raises AssertionError if one does not end or queues a
    different number of items than the file has lines.
    """
    with _s3_client(backend) as s3:
        s3.create_bucket(Bucket=BUCKET)
        size = _upload(s3, lines)
        reader = S3Objects(s3, block_bytes=block_bytes)
        seconds = 0.0
        if timed:
            started = time.perf_counter()
            _split(reader, lines, limits)
            seconds = time.perf_counter() - started
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            queue = _split(reader, lines, limits)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return SplitterMemory(
        lines=lines, file_bytes=size, messages=queue.messages, message_bytes=queue.bytes, peak_bytes=peak,
        seconds=round(seconds, 3), lines_per_second=round(lines / seconds, 1) if seconds else 0.0,
    )


def to_markdown(runs: list[SplitterMemory], backend: Backend = "server") -> str:
    """Takes measured runs (smallest first); returns them as a Markdown table and the peak ratio
    of the largest to the smallest."""
    rows = [
        "| lines | file MB | messages | peak MB | seconds | lines/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows += [
        f"| {run.lines:,} | {run.file_bytes / 1e6:.1f} | {run.messages:,} | {run.peak_bytes / 1e6:.2f} "
        f"| {run.seconds:.1f} | {run.lines_per_second:,.0f} |"
        for run in runs
    ]
    first, last = runs[0], runs[-1]
    rows += ["", f"Peak at {last.lines:,} lines / peak at {first.lines:,}: "
             f"{last.peak_bytes / first.peak_bytes:.2f} (moto: {backend})."]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """CLI: measure the split at each `--lines` (default 50,000 and 200,000); print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--backend", choices=["server", "mock_aws"], default="server")
    args = parser.parse_args(argv)
    runs = [measure(count, backend=args.backend) for count in sorted(args.lines)]
    print(to_markdown(runs, args.backend))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
