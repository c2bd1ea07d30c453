"""What file jobs need from the world, as protocols: the object store and the job's split state.

The splitter and the shard writer depend on these shapes only, so they run on in-memory fakes in
unit tests and on `files.objects.S3Objects` (and the job store) in a deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Protocol

from vectorizer.files.cursor import SplitCursor


class ObjectReaderPort(Protocol):
    """Reads an object as a stream of byte blocks from a byte offset (`files.objects.S3Objects`)."""

    def read_from(self, bucket: str, key: str, offset: int) -> Iterator[bytes]: ...


class ObjectStorePort(ObjectReaderPort, Protocol):
    """Whole objects in and out, and listing (`files.objects.S3Objects`)."""

    def put(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None: ...

    def put_file(self, bucket: str, key: str, fileobj: IO[bytes], *, content_type: str) -> None: ...

    def get(self, bucket: str, key: str) -> bytes | None: ...

    def list(self, bucket: str, prefix: str) -> Iterator[str]: ...

    def presigned_get(self, bucket: str, key: str, expires: int) -> str: ...


class FileJobStatePort(Protocol):
    """Where a file job's split cursor is kept between steps (the job record)."""

    def save_cursor(self, job_id: str, cursor: SplitCursor) -> None: ...
