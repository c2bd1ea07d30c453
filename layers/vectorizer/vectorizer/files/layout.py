"""Where a file job's objects live in the files bucket (`FILES_BUCKET`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from vectorizer.files.records import FileFormat

SHARD_IDS_SUFFIX = ".ids.jsonl"


class ShardKeys(BaseModel):
    """The three objects of one chunk's shard: vectors as JSONL, as a float32 .npy, and the row ids."""

    model_config = ConfigDict(frozen=True)

    jsonl: str
    npy: str
    ids: str


def upload_key(job_id: str, file_format: FileFormat) -> str:
    """Where a caller uploads a job's input file: `uploads/{jobId}/input.{jsonl|csv}`."""
    return f"uploads/{job_id}/input.{file_format}"


def job_prefix(job_id: str) -> str:
    """Everything a job writes is under `jobs/{jobId}/`."""
    return f"jobs/{job_id}/"


def shards_prefix(job_id: str) -> str:
    """The prefix of a job's shard objects."""
    return f"{job_prefix(job_id)}shards/"


def shard_keys(job_id: str, chunk: int) -> ShardKeys:
    """The keys of chunk `chunk`'s shard: `jobs/{jobId}/shards/part-{chunk:06d}.{jsonl,npy,ids.jsonl}`."""
    stem = f"{shards_prefix(job_id)}part-{chunk:06d}"
    return ShardKeys(jsonl=f"{stem}.jsonl", npy=f"{stem}.npy", ids=f"{stem}{SHARD_IDS_SUFFIX}")


def shard_chunk(key: str) -> int | None:
    """The chunk number of a shard's ids key (`.../part-000012.ids.jsonl` -> 12), or None for any other key."""
    name = key.rpartition("/")[2]
    if not (name.startswith("part-") and name.endswith(SHARD_IDS_SUFFIX)):
        return None
    number = name[len("part-"): -len(SHARD_IDS_SUFFIX)]
    return int(number) if number.isdigit() else None


def manifest_key(job_id: str) -> str:
    """`jobs/{jobId}/manifest.json`."""
    return f"{job_prefix(job_id)}manifest.json"


def failures_key(job_id: str) -> str:
    """`jobs/{jobId}/failed.jsonl`."""
    return f"{job_prefix(job_id)}failed.jsonl"
