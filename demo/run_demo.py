"""The main job on embedded defaults: a bulk job of the sample corpus through the local stack.

Starts `python -m local.stack`, submits demo/corpus.jsonl as one job over HTTP, follows
`GET /jobs/{id}` with a progress bar, prints a summary, then embeds a few questions with
`purpose: query` and prints their nearest neighbours among the stored vectors, and stops the stack.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import httpx
from tqdm import tqdm

from local.launcher import started_stack

CORPUS = Path(__file__).with_name("corpus.jsonl")
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
QUESTIONS = [
    "How do I compress data so it takes less space?",
    "Pick a random element from a list",
    "Send an email to someone",
    "What time zone is it in?",
    "Split a string into words",
]


def follow(client: httpx.Client, job_id: str, total: int) -> dict:
    with tqdm(total=total, unit="text", desc="vectorizing", file=sys.stdout) as bar:
        while True:
            job = client.get(f"/jobs/{job_id}").raise_for_status().json()
            bar.update(job["succeeded"] + job["failed"] - bar.n)
            if job["status"] in ("succeeded", "failed", "partial"):
                return job
            time.sleep(0.5)


def stored_vectors(client: httpx.Client, job_id: str) -> list[dict]:
    items, token = [], None
    while True:
        params = {"limit": 1000, **({"nextToken": token} if token else {})}
        page = client.get(f"/jobs/{job_id}/vectors", params=params).raise_for_status().json()
        items.extend(page["items"])
        token = page["nextToken"]
        if token is None:
            return items


def cosine(a: list[float], b: list[float]) -> float:
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0


def run_job(client: httpx.Client, rows: list[dict]) -> dict:
    started = time.monotonic()
    accepted = client.post("/vectorize", json={
        "config": {"model": MODEL}, "mode": "async",
        "texts": [row["text"] for row in rows], "ids": [row["id"] for row in rows],
    }).raise_for_status().json()
    print(f"job {accepted['jobId']}: {accepted['total']} texts in {accepted['chunks']} chunks")
    job = follow(client, accepted["jobId"], accepted["total"])
    seconds = time.monotonic() - started
    print(f"\nstatus {job['status']}: items {job['total']}, seconds {seconds:.1f}, "
          f"items/s {job['total'] / seconds:.1f}, failures {job['failed']}")
    return job


def show_neighbours(client: httpx.Client, job_id: str, rows: list[dict]) -> None:
    corpus = stored_vectors(client, job_id)
    texts = {row["id"]: row["text"] for row in rows}
    queries = client.post("/vectorize", json={
        "config": {"model": MODEL}, "texts": QUESTIONS, "purpose": "query", "mode": "sync",
    }).raise_for_status().json()
    print(f"\nnearest neighbours among {len(corpus)} stored vectors ({queries['dimensions']} dimensions):")
    for question, vector in zip(QUESTIONS, queries["vectors"], strict=True):
        ranked = sorted(corpus, key=lambda item: -cosine(vector, item["vector"]))[:3]
        print(f"\n  {question}")
        for item in ranked:
            print(f"    {cosine(vector, item['vector']):.3f}  {item['id']}: {texts[item['id']][:90]}")


def main() -> None:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"starting the local stack (moto, {MODEL} on the CPU, API, event source)...", flush=True)
    with started_stack(quiet=not os.environ.get("DEMO_VERBOSE")) as stack, \
            httpx.Client(base_url=stack.api, timeout=60) as client:
        job = run_job(client, rows)
        show_neighbours(client, job["jobId"], rows)
    print("\nlocal stack stopped")
    if job["failed"] or job["status"] != "succeeded":
        raise SystemExit(f"the job ended {job['status']} with {job['failed']} failed item(s)")


if __name__ == "__main__":
    main()
