"""A file job's manifest (`manifest.json`) and failures file (`failed.jsonl`), and links to its output.

The manifest is what a reader opens first: the job's counts, model and dimensions, and every
shard in chunk order with its keys, row count and first and last line. It is written once the
job has ended, from the shards whose ids files exist (a shard without one was never whole).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vectorizer.files.layout import failures_key, manifest_key, shard_chunk, shard_keys, shards_prefix
from vectorizer.files.ports import ObjectStorePort

FORMAT_VERSION = 1
# Errors are gathered in memory up to this size, then on local disk, before their upload.
SPOOL_BYTES = 8 * 1024 * 1024


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class FileJobSummary(_Model):
    """What the manifest says of the job: id, status, model, dimensions, source file and counts."""

    job_id: str = Field(alias="jobId")
    status: str
    model: str
    dimensions: int | None = None
    source: str
    total: int = Field(ge=0)
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)


class ShardSummary(_Model):
    """One written shard: its chunk number, row count and first and last physical line."""

    chunk: int = Field(ge=0)
    count: int = Field(ge=1)
    first_line: int | None = Field(None, alias="firstLine")
    last_line: int | None = Field(None, alias="lastLine")


class FailedItem(_Model):
    """One line of `failed.jsonl`: the item's index, line, id and why it failed."""

    index: int
    line: int | None = None
    id: str | None = None
    error: str


class Counts(_Model):
    total: int
    succeeded: int
    failed: int


class ManifestShard(_Model):
    chunk: int
    count: int
    first_line: int | None = Field(None, alias="firstLine")
    last_line: int | None = Field(None, alias="lastLine")
    vectors: str
    matrix: str
    ids: str


class ManifestFailures(_Model):
    key: str
    count: int


class Manifest(_Model):
    """The manifest as written to `jobs/{jobId}/manifest.json`."""

    format_version: Literal[1] = Field(FORMAT_VERSION, alias="formatVersion")
    job_id: str = Field(alias="jobId")
    status: str
    model: str
    dimensions: int | None
    source: str
    counts: Counts
    shards: list[ManifestShard]
    failures: ManifestFailures


def build_manifest(job: FileJobSummary, shards: Iterable[ShardSummary], failures: int) -> Manifest:
    """Takes the job, its written shards (any order) and the number of lines in its failures file;
    returns the manifest, shards in chunk order with their keys."""
    entries = []
    for shard in sorted(shards, key=lambda shard: shard.chunk):
        keys = shard_keys(job.job_id, shard.chunk)
        entries.append(ManifestShard(
            chunk=shard.chunk, count=shard.count, first_line=shard.first_line, last_line=shard.last_line,
            vectors=keys.jsonl, matrix=keys.npy, ids=keys.ids,
        ))
    return Manifest(
        job_id=job.job_id, status=job.status, model=job.model, dimensions=job.dimensions, source=job.source,
        counts=Counts(total=job.total, succeeded=job.succeeded, failed=job.failed), shards=entries,
        failures=ManifestFailures(key=failures_key(job.job_id), count=failures),
    )


def summarize_shard(chunk: int, ids_file: bytes) -> ShardSummary:
    """Takes a shard's chunk number and its ids file; returns its row count and first and last line."""
    rows = [json.loads(line) for line in ids_file.splitlines() if line.strip()]
    lines = [row["line"] for row in rows if row.get("line") is not None]
    return ShardSummary(
        chunk=chunk, count=len(rows), first_line=min(lines, default=None), last_line=max(lines, default=None)
    )


def written_shards(objects: ObjectStorePort, bucket: str, job_id: str) -> list[ShardSummary]:
    """The job's whole shards (those with an ids file), read from the bucket, in chunk order."""
    found = []
    for key in objects.list(bucket, shards_prefix(job_id)):
        chunk = shard_chunk(key)
        if chunk is None:
            continue
        body = objects.get(bucket, key)
        if body:
            found.append(summarize_shard(chunk, body))
    return sorted(found, key=lambda shard: shard.chunk)


def write_manifest(
    objects: ObjectStorePort, bucket: str, job: FileJobSummary, errors: Iterable[FailedItem]
) -> Manifest:
    """Write `failed.jsonl` (the errors streamed through a spooled file, any number of them), then
    `manifest.json`; returns the manifest written."""
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        for error in errors:
            spool.write(error.model_dump_json().encode("utf-8") + b"\n")
            count += 1
        objects.put_file(bucket, failures_key(job.job_id), spool, content_type="application/x-ndjson")
    manifest = build_manifest(job, written_shards(objects, bucket, job.job_id), count)
    objects.put(
        bucket, manifest_key(job.job_id), manifest.model_dump_json(indent=2).encode("utf-8"),
        content_type="application/json",
    )
    return manifest


class ShardLinks(_Model):
    chunk: int
    vectors: str
    matrix: str
    ids: str


class OutputLinks(_Model):
    """Presigned GET links to a job's output, valid for `expiresIn` seconds."""

    expires_in: int = Field(alias="expiresIn")
    manifest: str
    failures: str
    shards: list[ShardLinks]


def output_links(objects: ObjectStorePort, bucket: str, manifest: Manifest, expires: int) -> OutputLinks:
    """Takes the manifest and a lifetime in seconds; returns presigned GET links to it, its failures
    file and every file of every shard."""

    def link(key: str) -> str:
        return objects.presigned_get(bucket, key, expires)

    return OutputLinks(
        expires_in=expires, manifest=link(manifest_key(manifest.job_id)), failures=link(manifest.failures.key),
        shards=[
            ShardLinks(chunk=shard.chunk, vectors=link(shard.vectors), matrix=link(shard.matrix), ids=link(shard.ids))
            for shard in manifest.shards
        ],
    )
