"""The local stack end to end, over real HTTP, with the real all-MiniLM-L6-v2 model.

The session's stack (moto server, the model endpoint, the API, the SQS event source; see
conftest.py) serves every test here but the last, which starts and kills one of its own; a bulk
job's stored vectors are compared with the model's own output for the same texts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.job_client import cosine, read_vectors, wait_for_job
from local.launcher import ROOT, ReadyStack, StackOutput, stack_ports

pytestmark = pytest.mark.e2e

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CORPUS = Path(__file__).resolve().parents[2] / "demo" / "corpus.jsonl"
JOB_SIZE = 300
READY_TIMEOUT = 600  # seconds: the model's first load on a busy 2-core machine


@pytest.fixture(scope="module")
def client(local_stack: ReadyStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_stack.api, timeout=120) as client:
        yield client


def test_bulk_job_vectors_are_the_models_own(client: httpx.Client, encoder) -> None:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()[:JOB_SIZE]]
    texts, ids = [row["text"] for row in rows], [row["id"] for row in rows]
    accepted = client.post("/vectorize", json={"config": {"model": MODEL}, "texts": texts, "ids": ids,
                                               "mode": "async"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Location"] == f"/jobs/{accepted.json()['jobId']}"

    job = wait_for_job(client, accepted.json()["jobId"], timeout=300)
    assert (job.status, job.total, job.succeeded, job.failed, job.dimensions) == (
        "succeeded", JOB_SIZE, JOB_SIZE, 0, 384)

    items = read_vectors(client, job.job_id, page_size=100)
    assert [item.index for item in items] == list(range(JOB_SIZE))
    assert [item.id for item in items] == ids
    expected = encoder.encode(texts, batch_size=32, convert_to_numpy=True)
    worst = max(abs(got - want) for item, row in zip(items, expected, strict=True)
                for got, want in zip(item.vector, row.tolist(), strict=True))
    # Stored as float32, computed in batches that may be padded differently: equal to float32 noise.
    assert worst < 1e-5


def test_sync_answer_is_the_models_own_and_makes_sense(client: httpx.Client, encoder) -> None:
    texts = ["cat", "kitten", "car"]
    answer = client.post("/vectorize", json={"config": {"model": MODEL}, "texts": texts, "ids": ["c", "k", "v"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model"], body["dimensions"], body["ids"]) == (MODEL, 384, ["c", "k", "v"])
    cat, kitten, car = body["vectors"]
    assert cosine(cat, kitten) > cosine(cat, car)
    expected = encoder.encode(texts, convert_to_numpy=True)
    assert max(abs(g - w) for vector, row in zip(body["vectors"], expected, strict=True)
               for g, w in zip(vector, row.tolist(), strict=True)) < 1e-5


def test_errors_over_http_are_json_with_the_contract_codes(client: httpx.Client) -> None:
    bad_json = client.post("/vectorize", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (bad_json.status_code, bad_json.json()["code"]) == (400, "bad_json")
    both = client.post("/vectorize", json={"config": {"model": MODEL, "passageModel": "a/b"}, "texts": ["x"]})
    assert both.status_code == 400
    assert "only one setting must be set" in both.json()["error"]
    missing = client.get("/jobs/no-such-job")
    assert (missing.status_code, missing.json()["code"]) == (404, "job_not_found")


def descendants(pid: int) -> set[int]:
    found, frontier = set(), [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except OSError:
        return "?"


def process_state(pid: int) -> str:
    """A leftover's state and signal masks, so that a failure says why it did not stop."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "?"
    wanted = ("State", "PPid", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "Threads")
    return "; ".join(line for line in status if line.split(":")[0] in wanted)


def test_killing_the_stack_leaves_no_process_behind() -> None:
    ports = stack_ports()
    stack = subprocess.Popen([sys.executable, "-m", "local.stack", "--no-bridge"], cwd=ROOT, text=True,
                             env={**os.environ, **ports, "HF_API_BASE_URL": ""},
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # The launcher's own reading: the stack's stdout drained, `ready` awaited with a deadline.
        StackOutput(stack).ready(timeout=READY_TIMEOUT)
        children = descendants(stack.pid)
        # the model endpoint, and one process per function slot: 2 each for the API and the worker,
        # 1 each for the dead-letter consumer, the notifier, the sweeper and the file splitter
        kinds = sorted(command_line(pid).split(" -m ")[-1].split(" ")[0] for pid in children)
        assert kinds == ["local.model_server"] + ["local.runtime"] * 8
        stack.send_signal(signal.SIGKILL)  # no chance to clean up: the children must notice alone
        stack.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(pid) for pid in children):
            time.sleep(0.2)
        left = {pid: f"{command_line(pid)} ({process_state(pid)})" for pid in children if alive(pid)}
        assert left == {}
    finally:
        if stack.poll() is None:
            stack.kill()
