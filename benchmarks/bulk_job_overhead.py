"""How much a bulk job through the whole service costs over calling the model endpoint directly.

    PYTHONPATH=layers/vectorizer .venv/bin/python -m benchmarks.bulk_job_overhead [--texts 1000]

Everything is measured in one run, on one machine, against one local stack (the real model on
the CPU), so only ratios are reported:

- ideal: the same texts posted straight to the model endpoint, in requests of HF_BATCH_SIZE,
  with the same number in flight: the endpoint's own ceiling, no queue and no database;
- peer: `huggingface_hub.InferenceClient.feature_extraction`, one request per batch, one at a time,
  as a script calling the endpoint by hand would do;
- ours: `POST /vectorize` with `mode: async`, until `GET /jobs/{id}` says succeeded (API, SQS,
  workers, DynamoDB, and reading the vectors back).
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
from local.launcher import stack_ports, started_stack

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CORPUS = Path(__file__).resolve().parent.parent / "demo" / "corpus.jsonl"
BATCH = 32
IN_FLIGHT = 8


def load_texts(count: int) -> list[str]:
    """Takes a count; returns the first `count` texts of the demo corpus (fewer if it has fewer)."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["text"] for row in rows[:count]]


def batches(texts: list[str]) -> list[list[str]]:
    """Takes texts; returns them in consecutive batches of BATCH, in order."""
    return [texts[start:start + BATCH] for start in range(0, len(texts), BATCH)]


def ideal(model_url: str, texts: list[str]) -> float:
    """Takes the model endpoint's base URL and texts; returns the seconds it took to embed them
    straight at the endpoint, BATCH texts a request, IN_FLIGHT requests at once: its ceiling.
    """
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


def ours(api: str, texts: list[str]) -> float:
    """Takes the API's base URL and texts; returns the seconds from `POST /vectorize` (async) until
    the job has succeeded and every vector has been read back.
    """
    started = time.perf_counter()
    with httpx.Client(base_url=api, timeout=120) as client:
        job = client.post("/vectorize", json={"config": {"model": MODEL}, "texts": texts, "mode": "async"}).json()
        status = wait_for_job(client, job["jobId"], timeout=1800, interval=0.2)
        assert (status.status, status.succeeded) == ("succeeded", len(texts)), status
        assert len(read_vectors(client, status.job_id)) == len(texts)
    return time.perf_counter() - started


def measure(texts: list[str], *, with_peer: bool = True) -> dict[str, float]:
    """Takes the texts (and whether to time the peer too); returns seconds by name: `ideal`, `ours`
    and, with `with_peer`, `peer`, all measured against one local stack with the real model, which
    this starts and stops.
    """
    with started_stack(env={**stack_ports(), "HF_API_BASE_URL": ""}) as stack:
        ideal(stack.model, texts[:64])  # warm the model and the connection pools once
        seconds = {"ideal": ideal(stack.model, texts)}
        if with_peer:
            seconds["peer"] = peer(stack.model, texts)
        seconds["ours"] = ours(stack.api, texts)
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
