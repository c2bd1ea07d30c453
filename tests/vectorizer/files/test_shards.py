"""A chunk's vectors written to S3 as a shard: JSONL rows, a float32 .npy matrix and the ids, whole or not at all."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from vectorizer.codec import as_float32
from vectorizer.files.npy import npy_header, npy_matrix
from vectorizer.files.objects import S3Objects
from vectorizer.files.shards import ShardVectorStore
from vectorizer.jobs.vector_store import StoredVector


@dataclass(frozen=True)
class LinedVector(StoredVector):
    """A stored vector with its line, as StoredVector carries it for file jobs."""

    line: int | None = None


def jsonl(body: bytes | None) -> list[dict[str, Any]]:
    assert body is not None
    return [json.loads(line) for line in body.splitlines()]


def test_the_npy_writer_gives_what_numpy_writes_and_reads() -> None:
    rows = [[0.1, -2.5, 3.0], [4.25, 5.5, -6.75]]
    expected = io.BytesIO()
    np.save(expected, np.array(rows, dtype="<f4"))
    assert npy_matrix(rows) == expected.getvalue()
    assert len(npy_header(1000, 384)) % 64 == 0
    assert np.load(io.BytesIO(npy_matrix([]))).shape == (0, 0)


def test_rows_of_different_lengths_make_no_matrix() -> None:
    with pytest.raises(ValueError, match="rows of different lengths"):
        npy_matrix([[1.0], [1.0, 2.0]])


def test_flush_writes_the_three_files_in_index_order(objects: S3Objects, bucket: str) -> None:
    shard = ShardVectorStore(objects, bucket, "job-1", 7)
    shard.put("job-1", [LinedVector(5, "e", [0.1, 0.2], line=6), LinedVector(2, None, [1.0, 2.0], line=3)], model="m")
    shard.put("job-1", [LinedVector(3, "c", [3.5, -1.0], line=4)], model="m")
    shard.flush("job-1", 7)
    stem = "jobs/job-1/shards/part-000007"
    assert jsonl(objects.get(bucket, f"{stem}.jsonl")) == [
        {"id": None, "line": 3, "vector": [1.0, 2.0]},
        {"id": "c", "line": 4, "vector": [3.5, -1.0]},
        {"id": "e", "line": 6, "vector": as_float32([0.1, 0.2])},
    ]
    matrix = np.load(io.BytesIO(objects.get(bucket, f"{stem}.npy") or b""))
    assert matrix.dtype == np.float32
    assert matrix.tolist() == [[1.0, 2.0], [3.5, -1.0], as_float32([0.1, 0.2])]
    assert jsonl(objects.get(bucket, f"{stem}.ids.jsonl")) == [
        {"index": 2, "line": 3, "id": None}, {"index": 3, "line": 4, "id": "c"}, {"index": 5, "line": 6, "id": "e"},
    ]


def test_a_chunk_with_no_vectors_writes_nothing(objects: S3Objects, bucket: str) -> None:
    ShardVectorStore(objects, bucket, "job-1", 0).flush("job-1", 0)
    assert list(objects.list(bucket, "jobs/")) == []


def test_stored_indexes_are_those_of_a_written_shard_only(objects: S3Objects, bucket: str) -> None:
    shard = ShardVectorStore(objects, bucket, "job-1", 0)
    shard.put("job-1", [StoredVector(0, None, [1.0]), StoredVector(1, None, [2.0])], model="m")
    assert shard.stored_indexes("job-1", [0, 1, 2]) == set()
    shard.flush("job-1", 0)
    assert ShardVectorStore(objects, bucket, "job-1", 0).stored_indexes("job-1", [1, 2]) == {1}


def test_a_shard_that_dies_before_its_ids_file_does_not_exist(
    objects: S3Objects, bucket: str, monkeypatch: Any
) -> None:
    shard = ShardVectorStore(objects, bucket, "job-1", 0)
    shard.put("job-1", [StoredVector(0, None, [1.0])], model="m")
    real_put = objects.put

    def failing_put(bucket_: str, key: str, body: bytes, *, content_type: str) -> None:
        if key.endswith(".npy"):
            raise ConnectionError("S3 went away")
        real_put(bucket_, key, body, content_type=content_type)

    monkeypatch.setattr(objects, "put", failing_put)
    with pytest.raises(ConnectionError):
        shard.flush("job-1", 0)
    assert objects.get(bucket, "jobs/job-1/shards/part-000000.ids.jsonl") is None
    assert shard.stored_indexes("job-1", [0]) == set()


def test_a_shard_refuses_another_job_or_chunk(objects: S3Objects, bucket: str) -> None:
    shard = ShardVectorStore(objects, bucket, "job-1", 0)
    with pytest.raises(ValueError, match="this shard is chunk 0 of job job-1"):
        shard.put("job-2", [StoredVector(0, None, [1.0])], model="m")
    with pytest.raises(ValueError, match="not chunk 1 of job-1"):
        shard.flush("job-1", 1)


def test_a_shard_written_again_keeps_the_rows_it_had_beside_the_new_ones(objects: S3Objects, bucket: str) -> None:
    first = ShardVectorStore(objects, bucket, "job-1", 0)
    first.put("job-1", [StoredVector(0, "a", [0.5, 1.0], line=1), StoredVector(2, "c", [0.1, 0.2], line=3)], model="m")
    first.flush("job-1", 0)

    redriven = ShardVectorStore(objects, bucket, "job-1", 0)  # a later run of the chunk: only its missing item
    redriven.put("job-1", [StoredVector(1, "b", [2.0, -1.0], line=2)], model="m")
    redriven.flush("job-1", 0)

    stem = "jobs/job-1/shards/part-000000"
    assert jsonl(objects.get(bucket, f"{stem}.jsonl")) == [
        {"id": "a", "line": 1, "vector": [0.5, 1.0]},
        {"id": "b", "line": 2, "vector": [2.0, -1.0]},
        {"id": "c", "line": 3, "vector": as_float32([0.1, 0.2])},
    ]
    assert jsonl(objects.get(bucket, f"{stem}.ids.jsonl")) == [
        {"index": 0, "line": 1, "id": "a"}, {"index": 1, "line": 2, "id": "b"}, {"index": 2, "line": 3, "id": "c"}]
    matrix = np.load(io.BytesIO(objects.get(bucket, f"{stem}.npy") or b""))
    assert matrix.tolist() == [[0.5, 1.0], [2.0, -1.0], as_float32([0.1, 0.2])]
    assert redriven.stored_indexes("job-1", [0, 1, 2, 3]) == {0, 1, 2}


def test_a_rewrite_reads_the_earlier_rows_by_line_when_a_later_run_died_before_its_ids(
    objects: S3Objects, bucket: str,
) -> None:
    first = ShardVectorStore(objects, bucket, "job-1", 0)
    first.put("job-1", [StoredVector(0, "a", [0.5, 1.0], line=1), StoredVector(2, "c", [0.25, 0.75], line=3)],
              model="m")
    first.flush("job-1", 0)
    stem = "jobs/job-1/shards/part-000000"
    # A second run wrote its JSONL (rows 0, 1 and 2) and died before its .npy and ids file.
    objects.put(bucket, f"{stem}.jsonl", b"".join(json.dumps(row).encode() + b"\n" for row in [
        {"id": "a", "line": 1, "vector": [0.5, 1.0]}, {"id": "b", "line": 2, "vector": [9.0, 9.0]},
        {"id": "c", "line": 3, "vector": [0.25, 0.75]}]), content_type="application/x-ndjson")

    third = ShardVectorStore(objects, bucket, "job-1", 0)
    third.put("job-1", [StoredVector(1, "b", [2.0, -1.0], line=2)], model="m")
    third.flush("job-1", 0)

    assert jsonl(objects.get(bucket, f"{stem}.jsonl")) == [
        {"id": "a", "line": 1, "vector": [0.5, 1.0]},
        {"id": "b", "line": 2, "vector": [2.0, -1.0]},
        {"id": "c", "line": 3, "vector": [0.25, 0.75]},
    ]
    assert [row["index"] for row in jsonl(objects.get(bucket, f"{stem}.ids.jsonl"))] == [0, 1, 2]
