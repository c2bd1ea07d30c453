"""One chunk's vectors written to S3 as a shard: JSONL rows, a float32 .npy matrix and the row ids.

`ShardVectorStore` stands where `jobs.vector_store.VectorStore` stands for a file job's chunk:
`put` buffers, `flush` writes the shard once the chunk's vectors are all in. A shard is whole
or absent: its ids file is written last and is what says it exists, so a chunk that died half
way (vectors written, ids not) is written again in full, and readers never see half a shard.
A chunk run again over a shard it wrote before (a redrive) writes the shard's rows back with its
new ones.
"""

from __future__ import annotations

import json
from typing import Any

from vectorizer.codec import as_float32
from vectorizer.files.layout import shard_keys
from vectorizer.files.npy import npy_matrix
from vectorizer.files.ports import ObjectStorePort
from vectorizer.jobs.vector_store import StoredVector

JSONL = "application/x-ndjson"
NPY = "application/octet-stream"


def _line(vector: StoredVector) -> int | None:
    # StoredVector carries the item's physical line for file jobs.
    line = getattr(vector, "line", None)
    return line if isinstance(line, int) else None


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n" for row in rows)


class ShardVectorStore:
    """The shard of chunk `chunk` of job `job_id`, in `bucket`; one instance per chunk."""

    def __init__(self, objects: ObjectStorePort, bucket: str, job_id: str, chunk: int) -> None:
        self._objects = objects
        self._bucket = bucket
        self._job_id = job_id
        self._chunk = chunk
        self._keys = shard_keys(job_id, chunk)
        self._buffer: dict[int, StoredVector] = {}

    def _check(self, job_id: str, chunk: int | None = None) -> None:
        if job_id != self._job_id or (chunk is not None and chunk != self._chunk):
            raise ValueError(f"this shard is chunk {self._chunk} of job {self._job_id}, not chunk {chunk} of {job_id}")

    def put(self, job_id: str, vectors: list[StoredVector], *, model: str) -> None:
        """Keep vectors for the shard (a later vector for the same index replaces the earlier); nothing is written."""
        self._check(job_id)
        for vector in vectors:
            self._buffer[vector.index] = vector

    def flush(self, job_id: str, chunk: int) -> None:
        """Write the shard: vectors JSONL, then the .npy matrix, then the ids file; rows in index order.

        Writes nothing when no vector was put. Raises ValueError for vectors of different lengths.
        """
        self._check(job_id, chunk)
        if not self._buffer:
            return
        # A redriven chunk embeds only its items without a vector: the rows its shard already
        # holds are written again with the new ones, or the rewrite would drop them.
        for row in self._written_rows():
            self._buffer.setdefault(row.index, row)
        rows = [self._buffer[index] for index in sorted(self._buffer)]
        matrix = npy_matrix([row.vector for row in rows])
        vectors = _jsonl([{"id": row.id, "line": _line(row), "vector": as_float32(row.vector)} for row in rows])
        ids = _jsonl([{"index": row.index, "line": _line(row), "id": row.id} for row in rows])
        self._objects.put(self._bucket, self._keys.jsonl, vectors, content_type=JSONL)
        self._objects.put(self._bucket, self._keys.npy, matrix, content_type=NPY)
        self._objects.put(self._bucket, self._keys.ids, ids, content_type=JSONL)  # last: the shard now exists
        self._buffer.clear()

    def _jsonl_rows(self, key: str) -> list[dict[str, Any]]:
        """The rows of one of this shard's JSONL objects (none when it was never written)."""
        return [json.loads(line) for line in (self._objects.get(self._bucket, key) or b"").splitlines()]

    def _written_rows(self) -> list[StoredVector]:
        """The rows of this chunk's shard as written before (none when it has no shard yet).

        The ids file says which rows the shard holds. Each row's vector is found in the JSONL by
        its line (a file's line is one item), not by position: a later run that died after its
        JSONL and before its ids file leaves a JSONL with more rows than the ids file lists.
        """
        listed = self._jsonl_rows(self._keys.ids)
        if not listed:
            return []
        written = self._jsonl_rows(self._keys.jsonl)
        by_line = {row["line"]: row["vector"] for row in written if row.get("line") is not None}
        rows = []
        for position, row in enumerate(listed):
            if row["line"] is not None:
                vector = by_line.get(row["line"])
            else:  # no line to match by: only a JSONL of the same rows can be read by position
                vector = written[position]["vector"] if len(written) == len(listed) else None
            if vector is not None:
                rows.append(StoredVector(index=row["index"], id=row["id"], vector=vector, line=row["line"]))
        return rows

    def stored_indexes(self, job_id: str, indexes: list[int]) -> set[int]:
        """Those of `indexes` in this chunk's written shard (its ids file); none before it is written."""
        self._check(job_id)
        wanted = set(indexes)
        return {row["index"] for row in self._jsonl_rows(self._keys.ids) if row["index"] in wanted}
