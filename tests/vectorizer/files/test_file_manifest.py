"""A file job's manifest, failures file and output links."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from vectorizer.files.manifest import (
    FailedItem,
    FileJobSummary,
    ShardSummary,
    build_manifest,
    output_links,
    write_manifest,
)
from vectorizer.files.objects import S3Objects
from vectorizer.files.shards import ShardVectorStore
from vectorizer.jobs.vector_store import StoredVector

JOB = FileJobSummary(
    job_id="job-1", status="completed_with_errors", model="org/model", dimensions=2,
    source="s3://files/uploads/job-1/input.jsonl", total=5, succeeded=4, failed=1,
)


@dataclass(frozen=True)
class LinedVector(StoredVector):
    line: int | None = None


def test_the_manifest_lists_counts_and_shards_in_chunk_order_with_their_keys() -> None:
    manifest = build_manifest(
        JOB,
        [
            ShardSummary(chunk=1, count=1, first_line=5, last_line=5),
            ShardSummary(chunk=0, count=3, first_line=1, last_line=3),
        ],
        failures=1,
    )
    assert json.loads(manifest.model_dump_json()) == {
        "formatVersion": 1, "jobId": "job-1", "status": "completed_with_errors", "model": "org/model",
        "dimensions": 2, "source": "s3://files/uploads/job-1/input.jsonl",
        "counts": {"total": 5, "succeeded": 4, "failed": 1},
        "shards": [
            {"chunk": 0, "count": 3, "firstLine": 1, "lastLine": 3,
             "vectors": "jobs/job-1/shards/part-000000.jsonl", "matrix": "jobs/job-1/shards/part-000000.npy",
             "ids": "jobs/job-1/shards/part-000000.ids.jsonl"},
            {"chunk": 1, "count": 1, "firstLine": 5, "lastLine": 5,
             "vectors": "jobs/job-1/shards/part-000001.jsonl", "matrix": "jobs/job-1/shards/part-000001.npy",
             "ids": "jobs/job-1/shards/part-000001.ids.jsonl"},
        ],
        "failures": {"key": "jobs/job-1/failed.jsonl", "count": 1},
    }


def write_shard(objects: S3Objects, bucket: str, chunk: int, lines: list[int]) -> None:
    shard = ShardVectorStore(objects, bucket, "job-1", chunk)
    shard.put("job-1", [LinedVector(line - 1, None, [1.0, 2.0], line=line) for line in lines], model="org/model")
    shard.flush("job-1", chunk)


def test_write_manifest_reads_the_whole_shards_and_streams_every_error(objects: S3Objects, bucket: str) -> None:
    write_shard(objects, bucket, 1, [5])
    write_shard(objects, bucket, 0, [1, 2, 3])
    # A shard that died before its ids file is not one.
    objects.put(bucket, "jobs/job-1/shards/part-000002.jsonl", b"{}\n", content_type="application/x-ndjson")

    def errors() -> Iterator[FailedItem]:
        yield FailedItem(index=3, line=4, id=None, error="line 4: blank line")
        for n in range(20_000):
            yield FailedItem(index=100 + n, line=101 + n, id=f"x{n}", error="hf refused it")

    manifest = write_manifest(objects, bucket, JOB, errors())
    assert [(s.chunk, s.count, s.first_line, s.last_line) for s in manifest.shards] == [(0, 3, 1, 3), (1, 1, 5, 5)]
    assert manifest.failures.count == 20_001
    written = json.loads(objects.get(bucket, "jobs/job-1/manifest.json") or b"")
    assert written == json.loads(manifest.model_dump_json())
    failed = (objects.get(bucket, "jobs/job-1/failed.jsonl") or b"").splitlines()
    assert len(failed) == 20_001
    assert json.loads(failed[0]) == {"index": 3, "line": 4, "id": None, "error": "line 4: blank line"}
    assert json.loads(failed[-1]) == {"index": 20_099, "line": 20_100, "id": "x19999", "error": "hf refused it"}


def test_a_job_with_no_errors_still_gets_an_empty_failures_file(objects: S3Objects, bucket: str) -> None:
    manifest = write_manifest(objects, bucket, JOB, [])
    assert (manifest.shards, manifest.failures.count) == ([], 0)
    assert objects.get(bucket, "jobs/job-1/failed.jsonl") == b""


def test_output_links_sign_the_manifest_the_failures_and_every_shard_file(objects: S3Objects, bucket: str) -> None:
    write_shard(objects, bucket, 0, [1])
    manifest = write_manifest(objects, bucket, JOB, [])
    links = output_links(objects, bucket, manifest, 3600)

    def path(url: str) -> str:
        parsed = urlparse(url)
        assert "X-Amz-Expires=3600" in parsed.query
        return parsed.path

    body: dict[str, Any] = links.model_dump()
    assert body["expiresIn"] == 3600
    assert path(links.manifest).endswith("jobs/job-1/manifest.json")
    assert path(links.failures).endswith("jobs/job-1/failed.jsonl")
    shard = links.shards[0]
    stem = "jobs/job-1/shards/part-000000"
    assert path(shard.vectors).endswith(f"{stem}.jsonl")
    assert path(shard.matrix).endswith(f"{stem}.npy")
    assert path(shard.ids).endswith(f"{stem}.ids.jsonl")
