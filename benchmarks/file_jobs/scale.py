"""File jobs at scale on the local stack against a fake HF endpoint: every vector checked, every failure named.

`make scale` runs, on one local stack whose `HF_API_BASE_URL` is the fake endpoint of
`benchmarks.performance.fake_endpoint` (its vector for a text is `expected_vector(text)`):

1. a generated JSONL file of 200,000 lines through `POST /jobs` and its upload link; once the job
   has ended, its manifest must say 200,000 succeeded, and every row of every shard (JSONL, and
   the .npy matrix with its ids file) must be the fake's vector for its line, under its id, in
   line order;
2. a file with 5 malformed lines, which must end `partial` with exactly those 5 lines failed;

then prints the figures, prices a 1,000,000-line job from the first run's counts
(`benchmarks.file_jobs.cost`), measures the splitter's memory (`splitter_memory`) and writes all of
it to docs/performance-file-jobs.md. `--lines`/`--malformed-lines` shrink it (the e2e test's
fast variant uses the same functions).

    PYTHONPATH=layers/vectorizer .venv/bin/python -m benchmarks.file_jobs.scale
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

from benchmarks.file_jobs.cost import FileJobCounts, FunctionUse, cost_of_million_lines, sqs_units
from benchmarks.file_jobs.splitter_memory import CountingQueue, LastCursor, SplitterMemory, measure, to_markdown
from benchmarks.performance.fake_endpoint import EndpointParams, started_endpoint
from benchmarks.performance.job_runs import invocations, read_log
from local.job_client import FileJobOutput, ShardRow, read_file_output, submit_file_job, wait_for_file_job
from local.launcher import ROOT, ReadyStack, stack_ports, started_stack
from local.template_stack import load_template, read_stack
from tests.fakes.fake_hf_server import expected_vector
from vectorizer.api.models import JobStatus
from vectorizer.files.cursor import SplitCursor
from vectorizer.files.splitter import FileSplitJob, SplitLimits, split_step

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LINES = 200_000
MALFORMED_FILE_LINES = 2_000
MALFORMED = (3, 17, 250, 1_001, 1_999)  # physical line numbers, from 1
# A fast endpoint that never refuses: the figures are the service's, not HF's.
PARAMS = EndpointParams(latency=0.01, max_batch=32, concurrency=32, queue=512)
LOG_DIR = ROOT / ".local" / "scale"
DOC = ROOT / "docs" / "performance-file-jobs.md"
FILE_CHUNK_SIZE = 1000
MAX_MESSAGE_BYTES = 900_000


def line_text(number: int) -> str:
    """The text of generated line `number` (from 1)."""
    return f"line {number} of a generated file job: the quick brown fox {number % 97} jumps"


def line_id(number: int) -> str:
    """The id of generated line `number` (from 1)."""
    return f"row-{number}"


def fake_vector(number: int) -> list[float]:
    """The fake endpoint's vector for generated line `number`: `expected_vector` of its text, at its dimensions."""
    return expected_vector(line_text(number), PARAMS.dimensions)


def generated_jsonl(lines: int, malformed: Sequence[int] = ()) -> bytes:
    """Takes a line count and the line numbers to break; returns the JSONL file: `{"id", "text"}`
    a line, and, at each malformed number, a line that is not JSON."""
    broken = set(malformed)
    rows = (
        f'{{"id": "{line_id(n)}", "text": "unterminated\n'.encode() if n in broken
        else json.dumps({"id": line_id(n), "text": line_text(n)}).encode() + b"\n"
        for n in range(1, lines + 1)
    )
    return b"".join(rows)


def row_problems(rows: Sequence[ShardRow], lines: int, malformed: Sequence[int], source: str) -> list[str]:
    """Takes a job's output rows (from its JSONL shards or its matrices), the file's line count and
    malformed lines; returns what is wrong: rows missing or out of line order, a wrong id, or a
    vector other than the fake's for its line (compared exactly: the fake's values are float32-exact)."""
    wanted = [n for n in range(1, lines + 1) if n not in set(malformed)]
    got = [row.line for row in rows]
    if got != wanted:
        missing = sorted(set(wanted) - set(got))[:5]
        return [f"{source}: {len(rows)} rows for {len(wanted)} good lines, not in line order (missing e.g. {missing})"]
    problems = [f"{source}: line {row.line} has id {row.id!r}" for row in rows if row.id != line_id(row.line or 0)]
    wrong = [row.line for row in rows if row.vector != fake_vector(row.line or 0)]
    if wrong:
        problems.append(f"{source}: {len(wrong)} vectors are not the fake's for their line (first: line {wrong[0]})")
    return problems[:10]


def output_problems(job: JobStatus, output: FileJobOutput, lines: int, malformed: Sequence[int]) -> list[str]:
    """Takes a finished job, its output and what its file held; returns every way they disagree ([] when none)."""
    good = lines - len(malformed)
    status = "partial" if malformed else "succeeded"
    counts = output.manifest.counts
    problems = []
    if (job.status, output.manifest.status) != (status, status):
        problems.append(f"the job ended {job.status} (manifest: {output.manifest.status}), expected {status}")
    if (counts.total, counts.succeeded, counts.failed) != (lines, good, len(malformed)):
        problems.append(f"manifest counts {counts.total}/{counts.succeeded}/{counts.failed}, "
                        f"expected {lines}/{good}/{len(malformed)}")
    failed = [item.line for item in sorted(output.failures, key=lambda item: item.index)]
    if failed != sorted(malformed):
        problems.append(f"failed lines {failed[:10]}, expected {sorted(malformed)}")
    problems += row_problems(output.rows, lines, malformed, "JSONL shards")
    problems += row_problems(output.matrix_rows, lines, malformed, ".npy shards")
    return problems


@dataclass(frozen=True)
class FileRun:
    """One file job's run: its lines, seconds from POST to its end, the job, its output, its counts."""

    lines: int
    malformed: tuple[int, ...]
    seconds: float
    job: JobStatus
    output: FileJobOutput
    counts: FileJobCounts
    problems: list[str]

    @property
    def lines_per_second(self) -> float:
        """Lines through a second, from POST to the job's end."""
        return self.lines / self.seconds


def _moto(stack: ReadyStack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.moto, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _ttl_days() -> int:
    """The template's JobTtlDays default: how long the files bucket keeps a job's objects."""
    return int(load_template()["Parameters"]["JobTtlDays"]["Default"])


def _memory_mb(function: str) -> int:
    template = load_template()
    own = template["Resources"][function]["Properties"].get("MemorySize")
    return int(own or template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))


class _Whole:
    """The file's bytes as the splitter's reader: 1 MiB blocks from an offset."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read_from(self, bucket: str, key: str, offset: int) -> Iterator[bytes]:
        for start in range(offset, len(self._data), 1 << 20):
            yield self._data[start:start + (1 << 20)]


class _Sizes(CountingQueue):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def send(self, bodies: list[str]) -> None:
        self.sizes.extend(len(body.encode("utf-8")) for body in bodies)


def message_sizes(data: bytes, lines: int) -> list[int]:
    """The byte size of each chunk message the splitter sends for `data`: split here again with the
    stack's limits, since chunk boundaries and contents depend only on the file (a signature and a
    sealed token are of fixed size)."""
    queue = _Sizes()
    job = FileSplitJob(job_id="count", bucket="b", key="k", file_format="jsonl", config={"model": MODEL},
                       sealed_token=None, signing_key="k" * 64)
    limits = SplitLimits(chunk_size=FILE_CHUNK_SIZE, max_message_bytes=MAX_MESSAGE_BYTES, max_text_chars=20_000)
    result = split_step(job, SplitCursor(), reader=_Whole(data), queue=queue, state=LastCursor(), limits=limits,
                        deadline=float("inf"))
    assert result.total == lines, f"split {result.total} of {lines} lines"
    return queue.sizes


def measured_counts(
    log_lines: list[str], output: FileJobOutput, data: bytes, lines: int, chunk_bytes: list[int],
) -> FileJobCounts:
    """Takes the stack log's lines of one job, its output, its file, line count and chunk message
    sizes; returns what the job used. Lambda: each function's invocations and milliseconds as the
    stack logs them. SQS: each chunk message sent and received (64 KB units each), a delete per
    worker invocation, and a send, receive and delete per splitter step. S3: the upload, 3 PUTs a
    shard, the failures file and manifest, one LIST per 1,000 keys (priced as PUTs); GETs: a ranged
    read per splitter step, the worker's and the notifier's read of each ids file, and every output
    object read once by the caller. DynamoDB, by construction rather than measured (moto reports no
    consumed capacity): 4 write units and 1 read unit of job bookkeeping per chunk, as the body-job
    benchmark counts, a cursor save per 10 chunks, and 10 units of each for the job's own life.
    """
    uses = []
    for name, function, describe in (("api", "ApiFunction", "POST /jobs"), ("splitter", "SplitterFunction", ""),
                                     ("worker", "WorkerFunction", ""), ("notifier", "NotifierFunction", "")):
        seen = invocations(log_lines, function, describe)
        uses.append(FunctionUse(name=name, invocations=seen.count, billed_ms=seen.millis,
                                memory_mb=_memory_mb(function)))
    by_name = {use.name: use for use in uses}
    chunks = len(output.manifest.shards)
    steps = max(1, by_name["splitter"].invocations)
    sqs = 2 * sum(sqs_units(size) for size in chunk_bytes) + by_name["worker"].invocations + 3 * steps
    objects = len(output.sizes)
    return FileJobCounts(
        lines=lines, functions=uses, sqs_requests=sqs,
        dynamo_write_units=4 * chunks + math.ceil(chunks / 10) + 10, dynamo_read_units=chunks + 10,
        s3_puts=1 + objects + math.ceil(objects / 1000), s3_gets=steps + 2 * chunks + objects,
        s3_stored_bytes=len(data) + sum(output.sizes.values()),
    )


def run_file(client: httpx.Client, log_path: Path, lines: int, malformed: Sequence[int] = (),
             timeout: float = 3600) -> FileRun:
    """Submit a generated file of `lines` lines (with `malformed` lines broken) by its upload link,
    wait for its end, read and check its whole output; returns the run (its problems: [] when right)."""
    data = generated_jsonl(lines, malformed)
    log_before = len(read_log(log_path))
    started = time.monotonic()
    job_id = submit_file_job(client, {"config": {"model": MODEL}, "input": {"format": "jsonl"}}, data)
    job = wait_for_file_job(client, job_id, timeout=timeout, interval=2)
    seconds = time.monotonic() - started
    output = read_file_output(client, job_id)
    counts = measured_counts(read_log(log_path)[log_before:], output, data, lines, message_sizes(data, lines))
    problems = output_problems(job, output, lines, malformed)
    return FileRun(lines, tuple(malformed), seconds, job, output, counts, problems)


@contextmanager
def scale_stack(log_path: Path, workers: int = 2) -> Iterator[ReadyStack]:
    """The fake endpoint and a local stack whose HF_API_BASE_URL is it, logging to `log_path`."""
    with started_endpoint(PARAMS) as endpoint:
        env = {**stack_ports(), "HF_API_BASE_URL": endpoint.base_url, "LOCAL_WORKER_CONCURRENCY": str(workers),
               "LOCAL_FUNCTION_ENV": json.dumps({"HF_BATCH_SIZE": str(PARAMS.max_batch)})}
        with started_stack(env=env, log_path=log_path, ready_timeout=300) as stack:
            yield stack


def files_bucket(stack: ReadyStack) -> str:
    """The stack's files bucket (the API function's FILES_BUCKET)."""
    return read_stack(_moto(stack, "cloudformation"), "vectorizer-local").environment("ApiFunction")["FILES_BUCKET"]


def run_summary(run: FileRun) -> str:
    """One run's figures as a line: lines, status, seconds, lines/s, counts, shards and output bytes."""
    counts = run.output.manifest.counts
    return (f"{run.lines:,} lines ({len(run.malformed)} malformed): {run.job.status} in {run.seconds:.1f} s, "
            f"{run.lines_per_second:,.0f} lines/s; succeeded {counts.succeeded:,}, failed {counts.failed:,}; "
            f"{len(run.output.manifest.shards)} shards, {sum(run.output.sizes.values()) / 1e6:.1f} MB of output")


MILLION = 1_000_000
SPLITTER_TIMEOUT_SECONDS = 900  # the template's SplitterFunction Timeout


def projection(big: FileRun, splitter: SplitterMemory) -> str:
    """Takes the measured scale run and the splitter's largest measured split; returns, as
    Markdown, a 1,000,000-line job's figures projected linearly from those rates."""
    factor = MILLION / big.lines
    worker = next((use for use in big.counts.functions if use.name == "worker"), None)
    worker_seconds = worker.billed_ms / 1000 * factor if worker else 0.0
    split_seconds = MILLION / splitter.lines_per_second
    output_gb = sum(big.output.sizes.values()) * factor / 1e9
    invocations = ("one invocation" if split_seconds < SPLITTER_TIMEOUT_SECONDS
                   else "several invocations, each continuing from its cursor")
    return f"""Projected linearly from the {big.lines:,}-line run and the {splitter.lines:,}-line split above
(x {factor:g}): the splitter streams at {splitter.lines_per_second:,.0f} lines/s with a flat peak, so a
1,000,000-line file splits in about {split_seconds:,.0f} s, {invocations} of the splitter's
{SPLITTER_TIMEOUT_SECONDS} s, at about
{splitter.peak_bytes / 1e6:.1f} MB of peak memory; {math.ceil(MILLION / FILE_CHUNK_SIZE):,} chunk messages and
{math.ceil(MILLION / FILE_CHUNK_SIZE):,} shards (3 objects each), {output_gb:.1f} GB of output (JSONL, .npy
and ids); {worker_seconds:,.0f} worker-seconds, so about {worker_seconds / 20 / 60:,.1f} minutes with 20
workers at once if HF keeps up, and {MILLION / big.lines_per_second / 60:,.0f} minutes at this machine's
measured {big.lines_per_second:,.0f} lines/s (two local workers sharing two cores with moto and the fake)."""


def render(big: FileRun, broken: FileRun, memory: str, cost: str, when: str, projected: str = "") -> str:
    """The "File jobs" section of the performance report, as Markdown."""
    uses = "\n".join(f"| {use.name} | {use.invocations:,} | {use.billed_ms / 1000:,.1f} | {use.memory_mb} |"
                     for use in big.counts.functions)
    return f"""## File jobs

Measured {when} on this 2-core machine (shared with other work) by `make scale`
(`benchmarks/file_jobs/`): the local stack with HF_API_BASE_URL at the fake endpoint of
`benchmarks/performance/fake_endpoint.py` ({PARAMS.latency * 1000:.0f} ms a request, {PARAMS.max_batch}
texts, {PARAMS.concurrency} at once), two local workers, chunks of {FILE_CHUNK_SIZE:,} lines.

### Scale run

A generated JSONL file goes through `POST /jobs` and its upload link; once the job ends, every
shard is read by its presigned link (JSONL rows, and the .npy matrix with its ids file) and every
row is compared with the fake's vector for its line, exactly, with its id, in line order.

- {run_summary(big)}
- {run_summary(broken)}; failed lines {[item.line for item in broken.output.failures]}
- problems found: {len(big.problems) + len(broken.problems)}

Time is from the POST to the manifest's links; on two shared cores the stack's functions, moto and
the fake share the CPUs, so lines/s is a floor for the service, not a ceiling.

| function | invocations | seconds | memory MB |
| --- | ---: | ---: | ---: |
{uses}

### Splitter memory

`benchmarks/file_jobs/splitter_memory.py`: `split_step` over a JSONL file in moto S3 (a moto server
in a child process) to its end, with the S3 adapter's 1 MiB streamed reads and a queue that only
counts; tracemalloc's peak over the split, speed from a second, untraced split.

{memory}

### A 1,000,000-line file job

{projected}

### Cost of a 1,000,000-line file job

`benchmarks/file_jobs/cost.py`, from the {big.lines:,}-line run's counts (method in its docstring:
Lambda per function from the stack's log, SQS in 64 KB units from the chunk messages' sizes, S3
requests and bytes from the output; DynamoDB units by construction, since moto reports none).

{cost}
"""


def main(argv: list[str] | None = None) -> int:
    """CLI: the scale run, the malformed run, the splitter memory; prints and writes the report.
    Returns 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=LINES)
    parser.add_argument("--malformed-lines", type=int, default=MALFORMED_FILE_LINES)
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    log_path = LOG_DIR / "stack.log"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with scale_stack(log_path) as stack, httpx.Client(base_url=stack.api, timeout=120) as client:
        big = run_file(client, log_path, args.lines)
        print(run_summary(big), flush=True)
        malformed = [line for line in MALFORMED if line <= args.malformed_lines]
        broken = run_file(client, log_path, args.malformed_lines, malformed)
        print(run_summary(broken), flush=True)
    splits = [measure(count) for count in (50_000, 200_000)]
    memory = to_markdown(splits)
    print(memory)
    projected = projection(big, splits[-1])
    print(projected)
    bill = cost_of_million_lines(big.counts, _ttl_days())
    print(bill.to_markdown())
    (LOG_DIR / "counts.json").write_text(big.counts.model_dump_json(indent=2))
    args.out.write_text(render(big, broken, memory, bill.to_markdown(), when, projected))
    problems = big.problems + broken.problems
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
