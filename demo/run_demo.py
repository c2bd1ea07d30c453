"""The main job on embedded defaults: a bulk job of the sample corpus through the local stack.

Starts `python -m local.stack`, submits demo/corpus.jsonl as one job over HTTP, follows
`GET /jobs/{id}` with a progress bar, prints a summary, checks what was stored, then embeds a few
questions with `purpose: query` and prints their nearest neighbours among the stored vectors.
Part 2: the same texts as a file job (`POST /jobs`, the JSONL file PUT to its upload link), its
output files listed (key, size) with the manifest's counts, and its vectors checked against the
body job's. Stops the stack; exits non-zero when a job does not end `succeeded` or a check fails.

    DEMO_LIMIT=200 make demo     # only the first 200 texts (CI); default: the whole corpus
    DEMO_VERBOSE=1 make demo     # the stack's own log on the terminal
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
from tqdm import tqdm

from local.job_client import (
    FileJobOutput,
    JobDidNotEnd,
    cosine,
    items_done,
    read_file_output,
    read_vectors,
    submit_file_job,
    wait_for_file_job,
    wait_for_job,
)
from local.launcher import started_stack
from vectorizer.api.models import JobStatus, VectorItem

CORPUS = Path(__file__).with_name("corpus.jsonl")
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
JOB_TIMEOUT = 1800  # seconds: the whole corpus on a busy 2-core machine takes well under a tenth of it
# The same text through the inline route and through the job: float32 storage and other batch
# padding move a vector by ~1e-7, nowhere near this.
SAME_VECTOR = 0.9999
QUESTIONS = [
    "How do I compress data so it takes less space?",
    "Pick a random element from a list",
    "Send an email to someone",
    "What time zone is it in?",
    "Split a string into words",
]


def demo_limit(env: Mapping[str, str]) -> int | None:
    """How many corpus texts to vectorize, from DEMO_LIMIT in `env`: None (all of them) when unset or empty.

    Raises SystemExit with a message when it is not a whole number above zero.
    """
    raw = env.get("DEMO_LIMIT", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"DEMO_LIMIT must be a whole number above 0, not {raw!r}")
    return int(raw)


def load_rows(limit: int | None, corpus: Path = CORPUS) -> list[dict]:
    """The corpus rows (`{"id", "text"}`), the first `limit` of them when given."""
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows if limit is None else rows[:limit]


def job_problems(job: JobStatus, rows: Sequence[dict], items: Sequence[VectorItem]) -> list[str]:
    """What is wrong with a finished job and its stored vectors, for the texts in `rows`; [] when nothing.

    The job must have succeeded with every text, and the stored vectors must be one per text, in
    order, under the text's id, each of the job's dimensions.
    """
    problems = []
    if (job.status, job.total, job.succeeded, job.failed) != ("succeeded", len(rows), len(rows), 0):
        problems.append(f"the job ended {job.status} with {job.succeeded} of {len(rows)} texts vectorized "
                        f"and {job.failed} failed (total {job.total})"
                        + (f": {job.failure_reason}" if job.failure_reason else ""))
        problems.extend(f"item {error.index} ({error.id}): {error.error}" for error in job.errors[:5])
    if [item.index for item in items] != list(range(len(rows))):
        problems.append(f"{len(items)} vectors stored, expected one for each of the {len(rows)} texts, in order")
    elif [item.id for item in items] != [row["id"] for row in rows]:
        problems.append("the stored vectors' ids are not the texts' ids, in order")
    wrong = [item.index for item in items if len(item.vector) != job.dimensions]
    if wrong:
        problems.append(f"{len(wrong)} stored vectors do not have {job.dimensions} dimensions (first: {wrong[0]})")
    return problems


def run_job(client: httpx.Client, rows: list[dict]) -> JobStatus:
    """Submit `rows` as one async job, follow it with a progress bar, print the summary; the final status."""
    started = time.monotonic()
    accepted = client.post("/vectorize", json={
        "config": {"model": MODEL}, "mode": "async",
        "texts": [row["text"] for row in rows], "ids": [row["id"] for row in rows],
    }).raise_for_status().json()
    print(f"job {accepted['jobId']}: {accepted['total']} texts in {accepted['chunks']} chunks")
    with tqdm(total=accepted["total"], unit="text", desc="vectorizing", file=sys.stdout) as bar:
        job = wait_for_job(client, accepted["jobId"], timeout=JOB_TIMEOUT,
                           on_progress=lambda status: bar.update(items_done(status) - bar.n))
    seconds = time.monotonic() - started
    print(f"\nstatus {job.status}: items {job.total}, seconds {seconds:.1f}, "
          f"items/s {job.total / seconds:.1f}, failures {job.failed}")
    return job


def inline_problems(client: httpx.Client, rows: list[dict], items: Sequence[VectorItem]) -> list[str]:
    """The first text vectorized inline must get the vector the job stored for it; [] when it does."""
    answer = client.post("/vectorize", json={
        "config": {"model": MODEL}, "texts": [rows[0]["text"]], "mode": "sync",
    }).raise_for_status().json()
    similarity = cosine(answer["vectors"][0], items[0].vector)
    print(f"\n{rows[0]['id']}: inline vector vs stored vector, cosine {similarity:.6f}")
    return [] if similarity >= SAME_VECTOR else [
        f"{rows[0]['id']}: the inline vector differs from the stored one (cosine {similarity:.6f} < {SAME_VECTOR})"]


def show_neighbours(client: httpx.Client, items: Sequence[VectorItem], rows: list[dict]) -> None:
    """Embed QUESTIONS as queries and print each one's three nearest stored texts."""
    texts = {row["id"]: row["text"] for row in rows}
    queries = client.post("/vectorize", json={
        "config": {"model": MODEL}, "texts": QUESTIONS, "purpose": "query", "mode": "sync",
    }).raise_for_status().json()
    print(f"\nnearest neighbours among {len(items)} stored vectors ({queries['dimensions']} dimensions):")
    for question, vector in zip(QUESTIONS, queries["vectors"], strict=True):
        ranked = sorted(((cosine(vector, item.vector), item) for item in items), key=lambda pair: -pair[0])[:3]
        print(f"\n  {question}")
        for similarity, item in ranked:
            print(f"    {similarity:.3f}  {item.id}: {texts[item.id][:90]}")


def file_listing(output: FileJobOutput) -> list[str]:
    """A file job's output as lines to print: each object's key and size, then the manifest's counts."""
    width = max((len(key) for key in output.sizes), default=0)
    listed = [f"  {key:<{width}}  {size:>10,} bytes" for key, size in output.sizes.items()]
    counts = output.manifest.counts
    summary = (f"manifest: {output.manifest.status}, total {counts.total}, succeeded {counts.succeeded}, "
               f"failed {counts.failed}, {len(output.manifest.shards)} shard(s), "
               f"{output.manifest.dimensions} dimensions")
    return [*listed, summary]


def file_job_problems(output: FileJobOutput, rows: Sequence[dict], items: Sequence[VectorItem]) -> list[str]:
    """What is wrong with a file job of `rows` given the body job's stored vectors `items`; [] when nothing.

    The manifest must say every row succeeded; the JSONL shards must hold one row per text, in
    order, under its id, each the body job's vector for that text (cosine >= SAME_VECTOR).
    """
    counts = output.manifest.counts
    if (output.manifest.status, counts.total, counts.succeeded, counts.failed) != (
            "succeeded", len(rows), len(rows), 0):
        return [f"the file job ended {output.manifest.status} with {counts.succeeded} of {len(rows)} lines "
                f"vectorized and {counts.failed} failed (total {counts.total})"]
    if [row.id for row in output.rows] != [row["id"] for row in rows]:
        return [f"the file job's {len(output.rows)} output rows are not the texts' ids, in order"]
    differ = [row.id for row, item in zip(output.rows, items, strict=False)
              if cosine(row.vector, item.vector) < SAME_VECTOR]
    return [f"{len(differ)} file job vectors differ from the body job's (first: {differ[0]})"] if differ else []


def run_file_job(client: httpx.Client, rows: list[dict]) -> FileJobOutput:
    """Submit `rows` as a JSONL file job by its upload link, wait for its end, print its output files
    and counts; returns its output."""
    started = time.monotonic()
    data = "".join(json.dumps({"id": row["id"], "text": row["text"]}) + "\n" for row in rows).encode()
    job_id = submit_file_job(client, {"config": {"model": MODEL}, "input": {"format": "jsonl"}}, data)
    print(f"\nfile job {job_id}: {len(data):,} bytes of JSONL uploaded by its link")
    job = wait_for_file_job(client, job_id, timeout=JOB_TIMEOUT)
    output = read_file_output(client, job_id)
    print(f"status {job.status} in {time.monotonic() - started:.1f} s; output files:")
    print("\n".join(file_listing(output)))
    return output


def main() -> None:
    """Run the demo; raises SystemExit with the reasons when the job or a check fails."""
    limit = demo_limit(os.environ)
    rows = load_rows(limit)
    scope = f"the first {len(rows)} texts of the corpus" if limit else f"the whole corpus ({len(rows)} texts)"
    print(f"starting the local stack (moto, {MODEL} on the CPU, API, event source) for {scope}...", flush=True)
    problems: list[str] = []
    with started_stack(quiet=not os.environ.get("DEMO_VERBOSE")) as stack, \
            httpx.Client(base_url=stack.api, timeout=60) as client:
        try:
            job = run_job(client, rows)
        except JobDidNotEnd as late:
            raise SystemExit(f"demo failed: {late}") from None
        items = read_vectors(client, job.job_id)
        problems = job_problems(job, rows, items)
        if not problems:
            problems = inline_problems(client, rows, items)
            show_neighbours(client, items, rows)
        if not problems:
            try:
                problems = file_job_problems(run_file_job(client, rows), rows, items)
            except JobDidNotEnd as late:
                raise SystemExit(f"demo failed: {late}") from None
    print("\nlocal stack stopped")
    if problems:
        raise SystemExit("demo failed:\n  " + "\n  ".join(problems))
    print(f"demo passed: {len(rows)} texts vectorized and stored, as a body job and as a file job, each check held")


if __name__ == "__main__":
    main()
