"""How much a bulk job through the whole service costs over calling the model endpoint directly.

    PYTHONPATH=layers/vectorizer .venv/bin/python -m benchmarks.bulk_job_overhead [--texts 1000]

Everything is measured in one run, on one machine, against one local stack (the real model on
the CPU), so only ratios are reported:

- ideal: the same texts posted straight to the model endpoint, in requests of HF_BATCH_SIZE,
  with the same number in flight: the endpoint's own ceiling, no queue and no database;
- ideal_grouped: the same, with the whole set sorted by length first, so each request pads the
  least it can: the endpoint's ceiling for any client that groups texts by length, as the service
  does within each chunk;
- peer: `huggingface_hub.InferenceClient.feature_extraction`, one request per batch, one at a time,
  as a script calling the endpoint by hand would do;
- ours: `POST /vectorize` with `mode: async`, until `GET /jobs/{id}` says succeeded (API, SQS,
  workers, DynamoDB); reading the vectors back afterwards is timed on its own (`read_back`).

Fairness on a small machine: the model endpoint is CPU-bound, and here the service's own work
(moto, the API, the workers) shares its cores, which it would not in AWS. So the endpoint is
started apart at this process's priority, and the stack beside it with LOCAL_STACK_NICE (STACK_NICE):
the service still does all of its work, but only with the CPU the model leaves over.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from huggingface_hub import InferenceClient

from local.job_client import read_vectors, wait_for_job
from local.launcher import free_port, stack_ports, started_stack
from local.stack import model_endpoint

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CORPUS = Path(__file__).resolve().parent.parent / "demo" / "corpus.jsonl"
BATCH = 32
IN_FLIGHT = 8
STACK_NICE = 10  # the stack's niceness beside the model endpoint (0 = the same priority)


def load_texts(count: int | None) -> list[str]:
    """Takes a count (None for all); returns the first `count` texts of the demo corpus (fewer if it has fewer)."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["text"] for row in rows[:count]]


def batches(texts: list[str]) -> list[list[str]]:
    """Takes texts; returns them in consecutive batches of BATCH, in order."""
    return [texts[start:start + BATCH] for start in range(0, len(texts), BATCH)]


def ideal(model_url: str, texts: list[str], *, by_length: bool = False) -> float:
    """Takes the model endpoint's base URL and texts (and whether to sort them by length first);
    returns the seconds it took to embed them straight at the endpoint, BATCH texts a request,
    IN_FLIGHT requests at once: its ceiling.
    """
    if by_length:
        texts = sorted(texts, key=len)
    url = f"{model_url}/models/{MODEL}/pipeline/feature-extraction"
    started = time.perf_counter()
    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(IN_FLIGHT) as pool:
        answers = list(pool.map(lambda batch: client.post(url, json={"inputs": batch}).raise_for_status().json(),
                                batches(texts)))
    assert sum(len(answer) for answer in answers) == len(texts)
    return time.perf_counter() - started


def peer(model_url: str, texts: list[str]) -> float:
    """Takes the model endpoint's base URL and texts; returns the seconds InferenceClient took, one batch at a time."""
    client = InferenceClient(model=f"{model_url}/models/{MODEL}/pipeline/feature-extraction", token="hf_local")
    started = time.perf_counter()
    rows = sum(len(client.feature_extraction(batch)) for batch in batches(texts))
    assert rows == len(texts)
    return time.perf_counter() - started


def ours(api: str, texts: list[str]) -> tuple[str, float]:
    """Takes the API's base URL and texts; returns the job's id and the seconds from `POST /vectorize`
    (async) until the job has succeeded.
    """
    started = time.perf_counter()
    with httpx.Client(base_url=api, timeout=120) as client:
        job = client.post("/vectorize", json={"config": {"model": MODEL}, "texts": texts, "mode": "async"}).json()
        status = wait_for_job(client, job["jobId"], timeout=1800, interval=0.2)
        assert (status.status, status.succeeded) == ("succeeded", len(texts)), status
    return status.job_id, time.perf_counter() - started


def read_back(api: str, job_id: str, count: int) -> float:
    """Takes the API's base URL, a succeeded job's id and its text count; returns the seconds reading
    every vector back took (`GET /jobs/{id}/vectors`, page by page).
    """
    started = time.perf_counter()
    with httpx.Client(base_url=api, timeout=120) as client:
        assert len(read_vectors(client, job_id)) == count
    return time.perf_counter() - started


def measure(texts: list[str], *, with_peer: bool = True, stack_nice: int = STACK_NICE) -> dict[str, float]:
    """Takes the texts (whether to time the peer too, and the stack's niceness); returns seconds by
    name: `ideal`, `ideal_grouped`, `ours` (to succeeded), `read_back` and, with `with_peer`, `peer`, all against one
    real model endpoint and one local stack using it, which this starts and stops.
    """
    with model_endpoint(free_port()) as model, started_stack(
            env={**stack_ports(), "HF_API_BASE_URL": model, "LOCAL_STACK_NICE": str(stack_nice)}) as stack:
        ideal(model, texts[:64])  # warm the model and the connection pools once
        # The stack's functions too, with texts of their own: the content cache must not answer the timed job.
        ours(stack.api, [f"warm-up sentence number {number}" for number in range(64)])
        seconds = {"ideal": ideal(model, texts), "ideal_grouped": ideal(model, texts, by_length=True)}
        if with_peer:
            seconds["peer"] = peer(model, texts)
        job_id, seconds["ours"] = ours(stack.api, texts)
        seconds["read_back"] = read_back(stack.api, job_id, len(texts))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=1000)
    texts = load_texts(parser.parse_args().texts)
    seconds = measure(texts)
    print(f"{len(texts)} texts, one run, one machine (seconds are for this run only):")
    for name, value in seconds.items():
        print(f"  {name:5} {value:7.2f} s  {len(texts) / value:7.1f} texts/s")
    print(f"ours / ideal = {seconds['ours'] / seconds['ideal']:.2f}  (time; 1.00 = no overhead over the endpoint)")
    print(f"ours / peer  = {seconds['ours'] / seconds['peer']:.2f}  (time; below 1 = faster than a plain loop)")


if __name__ == "__main__":
    main()
