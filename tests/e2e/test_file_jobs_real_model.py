"""File jobs end to end on the local stack with the real all-MiniLM-L6-v2 model.

A 2,000-line JSONL file (the demo corpus, its first lines again past its end, under ids of their
own) goes in by the upload link; every row of the output, from the JSONL shards and from the .npy
matrices with their ids files, must be the vector the model endpoint itself answers for its line's
text, in line order, under its id. A 50-line CSV file put in the files bucket goes in by its
`s3://` URI.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import boto3
import httpx
import pytest

from local.job_client import FileJobOutput, ShardRow, read_file_output, submit_file_job, wait_for_file_job
from local.launcher import ReadyStack
from local.template_stack import read_stack

pytestmark = pytest.mark.e2e

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CORPUS = Path(__file__).resolve().parents[2] / "demo" / "corpus.jsonl"
LINES = 2_000
TOLERANCE = 1e-5  # float32 storage and other batch padding, nothing more


@pytest.fixture(scope="module")
def client(local_stack: ReadyStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_stack.api, timeout=120) as client:
        yield client


def corpus_rows(count: int) -> list[dict[str, str]]:
    """`count` rows of the corpus, its first rows again past its end with `#2` on their ids."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        {"id": row["id"] + ("" if n < len(rows) else "#2"), "text": row["text"]}
        for n, row in ((n, rows[n % len(rows)]) for n in range(count))
    ]


def model_vectors(stack: ReadyStack, texts: Sequence[str]) -> dict[str, list[float]]:
    """The model endpoint's own vector for each distinct text, asked for directly, 64 at a time."""
    distinct = list(dict.fromkeys(texts))
    vectors: dict[str, list[float]] = {}
    with httpx.Client(timeout=300) as model:
        for start in range(0, len(distinct), 64):
            batch = distinct[start:start + 64]
            answer = model.post(f"{stack.model}/models/{MODEL}/pipeline/feature-extraction", json={"inputs": batch})
            vectors.update(zip(batch, answer.raise_for_status().json(), strict=True))
    return vectors


def worst_difference(rows: Sequence[ShardRow], texts: Sequence[str], vectors: dict[str, list[float]]) -> float:
    return max(abs(got - want) for row, text in zip(rows, texts, strict=True)
               for got, want in zip(row.vector, vectors[text], strict=True))


def finished_output(client: httpx.Client, job_id: str, timeout: float) -> tuple[str, FileJobOutput]:
    job = wait_for_file_job(client, job_id, timeout=timeout)
    return job.status, read_file_output(client, job_id)


def test_every_vector_of_an_uploaded_file_is_the_models_own_for_its_line(
    client: httpx.Client, local_stack: ReadyStack,
) -> None:
    rows = corpus_rows(LINES)
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    job_id = submit_file_job(client, {"config": {"model": MODEL}, "input": {"format": "jsonl"}}, data)

    status, output = finished_output(client, job_id, timeout=900)

    counts = output.manifest.counts
    assert (status, counts.total, counts.succeeded, counts.failed, output.manifest.dimensions) == (
        "succeeded", LINES, LINES, 0, 384)
    assert output.failures == []
    texts = [row["text"] for row in rows]
    expected = model_vectors(local_stack, texts)
    for source in (output.rows, output.matrix_rows):
        assert [row.line for row in source] == list(range(1, LINES + 1))
        assert [row.id for row in source] == [row["id"] for row in rows]
        assert worst_difference(source, texts, expected) < TOLERANCE
    assert [row.index for row in output.matrix_rows] == list(range(LINES))


def test_a_csv_file_in_the_files_bucket_goes_in_by_its_s3_uri(client: httpx.Client, local_stack: ReadyStack) -> None:
    rows = corpus_rows(50)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["id", "text"])
    writer.writerows([row["id"], row["text"]] for row in rows)
    moto = {"endpoint_url": local_stack.moto, "region_name": "us-east-1", "aws_access_key_id": "local",
            "aws_secret_access_key": "local"}
    bucket = read_stack(boto3.client("cloudformation", **moto), "vectorizer-local").environment(
        "ApiFunction")["FILES_BUCKET"]
    boto3.client("s3", **moto).put_object(Bucket=bucket, Key="inputs/fifty.csv", Body=text.getvalue().encode())

    accepted = client.post("/jobs", json={"config": {"model": MODEL},
                                          "input": {"format": "csv", "uri": f"s3://{bucket}/inputs/fifty.csv"}})
    assert accepted.status_code == 202, accepted.text
    assert (accepted.json()["status"], accepted.json().get("upload")) == ("queued", None)
    status, output = finished_output(client, accepted.json()["jobId"], timeout=300)

    assert (status, output.manifest.counts.succeeded, output.manifest.counts.failed) == ("succeeded", 50, 0)
    texts = [row["text"] for row in rows]
    expected = model_vectors(local_stack, texts)
    for source in (output.rows, output.matrix_rows):
        assert [row.id for row in source] == [row["id"] for row in rows]
        assert worst_difference(source, texts, expected) < TOLERANCE
