"""One local stack for the whole run, pointed at the fake endpoint, and one scenario run on it at a time.

The stack runs with short redelivery (1 s), a 40 s worker timeout, a 2 s HF timeout, short
backoffs and chunks of 50 texts, so that every fault's path (retries, redeliveries, last
deliveries, dead-letter queue) plays out within seconds; `RUN_SETTINGS` says which, and the
document repeats it. Between scenarios the faults file is replaced (the function processes read
it again) and the fake endpoint starts a fresh count; the work queue is purged after each row.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

from benchmarks.reliability.counting import Submitted, Tally, job_ids, open_jobs, tally
from benchmarks.reliability.scenarios import Scenario
from local.faults import FaultPlan, write_plan
from local.launcher import ROOT, ReadyStack, stack_ports, started_stack
from local.template_stack import read_stack
from tests.fakes.fake_hf_server import DIMENSIONS, FakeHuggingFace, Faults

MODEL = "fake/model"
# A caller's own token, so that every job seals it with KMS and every chunk opens it.
CALLER_TOKEN = "hf_reliability_caller_token"
LOG_DIR = ROOT / ".local" / "reliability"

# Function environment for the run (LOCAL_FUNCTION_ENV), and the stack's own knobs.
RUN_SETTINGS = {
    "HF_TIMEOUT_SECONDS": "2",
    "HF_BACKOFF_BASE_SECONDS": "0.05",
    "HF_BACKOFF_CAP_SECONDS": "2",
    "CHUNK_SIZE": "50",
    # The sweeper's bounds, shortened as the redelivery delay is: a job whose API died mid-submit
    # closes after 5 s without progress, any other after 120 s (longer than a chunk's 5 deliveries here).
    "SUBMIT_STALL_SECONDS": "5",
    "STALL_SECONDS": "120",
}
STACK_SETTINGS = {"LOCAL_REDELIVERY_SECONDS": "1", "LOCAL_WORKER_TIMEOUT_SECONDS": "40", "LOCAL_SWEEP_SECONDS": "2"}
SUBMIT_ATTEMPTS = 4


@dataclass(frozen=True)
class Row:
    """One scenario's figures, counted from the stores and the fake's own log."""

    name: str
    what: str
    tally: Tally
    hf_requests: int
    hf_retries: int
    hf_statuses: dict[int, int]
    api_5xx: int
    dead_lettered: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Nothing duplicated, nothing lost, no job left open, and every accepted item accounted for."""
        t = self.tally
        return t.duplicated == 0 and t.lost == 0 and t.left_open == 0 and t.stored + t.failed == t.accepted


@dataclass
class Bench:
    """The running stack, the fake endpoint, the AWS clients on moto and the faults file."""

    stack: ReadyStack
    fake: FakeHuggingFace
    faults_file: Path
    dynamodb: Any
    sqs: Any
    jobs_table: str
    vectors_table: str
    dead_letter_url: str


def _moto_client(stack: ReadyStack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.moto, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


@contextmanager
def bench() -> Iterator[Bench]:
    """The fake endpoint and a local stack pointed at it, up for the `with` block, then stopped."""
    with ExitStack() as stack:
        fake = stack.enter_context(FakeHuggingFace(Faults()))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reliability-")))
        faults_file = folder / "faults.json"
        write_plan(faults_file, FaultPlan())
        env = {**stack_ports(), **STACK_SETTINGS, "HF_API_BASE_URL": fake.base_url,
               "LOCAL_FUNCTION_ENV": json.dumps({**RUN_SETTINGS, "LOCAL_FAULTS_FILE": str(faults_file)})}
        ready = stack.enter_context(started_stack(env=env, log_path=LOG_DIR / "stack.log", ready_timeout=180))
        deployed = read_stack(_moto_client(ready, "cloudformation"), "vectorizer-local")
        sqs = _moto_client(ready, "sqs")
        yield Bench(
            stack=ready, fake=fake, faults_file=faults_file, dynamodb=_moto_client(ready, "dynamodb"), sqs=sqs,
            jobs_table=deployed.physical_ids["JobsTable"], vectors_table=deployed.physical_ids["VectorsTable"],
            dead_letter_url=sqs.get_queue_url(
                QueueName=deployed.physical_ids["DeadLetterQueue"].rsplit("/", 1)[-1])["QueueUrl"],
        )


def texts_for(row: str, job: int, count: int) -> tuple[str, ...]:
    """Distinct texts for one job of one row, so every vector says which text it belongs to."""
    return tuple(f"{row} job {job} text {index}: the quick brown fox no. {index * 7919 % 1000}"
                 for index in range(count))


def submit(client: httpx.Client, texts: tuple[str, ...]) -> tuple[str | None, list[int]]:
    """POST one job, again on a 5xx or a broken connection with the same Idempotency-Key.

    Returns the job id of the 202 (None if none came) and every status answered on the way.
    """
    key = uuid.uuid4().hex
    statuses: list[int] = []
    for attempt in range(SUBMIT_ATTEMPTS):
        try:
            answer = client.post("/vectorize", headers={"Idempotency-Key": key, "X-Huggingface-Api-Key": CALLER_TOKEN},
                                 json={"config": {"model": MODEL}, "texts": list(texts), "mode": "async"})
        except httpx.TransportError:
            statuses.append(599)
        else:
            statuses.append(answer.status_code)
            if answer.status_code == 202:
                return answer.json()["jobId"], statuses
            if answer.status_code < 500:
                return None, statuses
        time.sleep(0.5 * (attempt + 1))
    return None, statuses


def _queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def settle(bench: Bench, accepted: list[Submitted], before: set[str], *, timeout: float, grace: float) -> None:
    """Wait until every job created since `before` is final: at most `timeout` seconds, and once the
    accepted jobs are final and the work queue is empty, at most `grace` seconds more for the rest
    (a job no message is left for can only be closed by something else, e.g. a sweeper).
    """
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    accepted_ids = {job.job_id for job in accepted}
    while time.monotonic() < deadline:
        if not open_jobs(bench.dynamodb, bench.jobs_table, job_ids(bench.dynamodb, bench.jobs_table) - before):
            return
        quiet = _queue_depth(bench.sqs, bench.stack.queue) == 0 and not open_jobs(
            bench.dynamodb, bench.jobs_table, accepted_ids)
        idle_since = (idle_since or time.monotonic()) if quiet else None
        if idle_since is not None and time.monotonic() - idle_since > grace:
            return
        time.sleep(0.5)


def run_scenario(bench: Bench, scenario: Scenario, *, jobs: int, texts_per_job: int, timeout: float = 240.0,
                 grace: float = 20.0) -> Row:
    """Run one scenario: set its faults, submit `jobs` jobs of `texts_per_job` texts one after another,
    wait for them, count from the stores. Returns its Row; the faults are cleared afterwards.
    """
    before = job_ids(bench.dynamodb, bench.jobs_table)
    dead_before = _queue_depth(bench.sqs, bench.dead_letter_url)
    bench.fake.reconfigure(scenario.hf)
    write_plan(bench.faults_file, FaultPlan(generation=f"{scenario.name}-{uuid.uuid4().hex[:8]}",
                                            rules=scenario.rules(bench.vectors_table)))
    started = time.monotonic()
    accepted: list[Submitted] = []
    api_5xx = 0
    with httpx.Client(base_url=bench.stack.api, timeout=60) as client:
        for job in range(jobs):
            texts = texts_for(scenario.name, job, texts_per_job)
            job_id, statuses = submit(client, texts)
            api_5xx += sum(status >= 500 for status in statuses)
            if job_id is not None:
                accepted.append(Submitted(job_id, f"{scenario.name}-{job}", texts))
    settle(bench, accepted, before, timeout=timeout, grace=grace)
    seconds = time.monotonic() - started
    write_plan(bench.faults_file, FaultPlan())
    created = job_ids(bench.dynamodb, bench.jobs_table) - before
    observed = bench.fake.observed
    row = Row(
        name=scenario.name, what=scenario.what,
        tally=tally(bench.dynamodb, bench.jobs_table, bench.vectors_table, accepted, created, DIMENSIONS),
        hf_requests=len(observed.log), hf_retries=observed.retries, hf_statuses=dict(observed.statuses),
        api_5xx=api_5xx, dead_lettered=_queue_depth(bench.sqs, bench.dead_letter_url) - dead_before,
        seconds=seconds,
    )
    _purge(bench)
    return row


def _purge(bench: Bench) -> None:
    """Empty the work queue, so what a row left behind does not run into the next one."""
    if _queue_depth(bench.sqs, bench.stack.queue) == 0:
        return
    # One purge a minute at most: when refused, the next row still counts only its own jobs.
    with contextlib.suppress(bench.sqs.exceptions.PurgeQueueInProgress):
        bench.sqs.purge_queue(QueueUrl=bench.stack.queue)
