"""Splitting a file job into signed chunk messages, a bounded step at a time.

`split_step` reads the object from a cursor, packs its records into chunks (at most
`FILE_CHUNK_SIZE` items, each message under the SQS byte bound: the same greedy packing as
`jobs.message.plan_chunks`), signs them with the job's key and sends them ten at a time, saving
the cursor after each send. It stops before its deadline with the cursor to go on from, or at the
end of the object with the job's total and chunk count.

Chunk boundaries depend only on the records from the cursor on, so a step re-run from an older
cursor (the process died between a send and its save) sends the very same chunks again: same
numbers, same items, same signatures, which the worker counts once. Memory holds one chunk of
records plus one send batch, whatever the file's size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from vectorizer.config import ModuleConfig, Purpose
from vectorizer.files.cursor import SplitCursor
from vectorizer.files.ports import FileJobStatePort, ObjectReaderPort
from vectorizer.files.records import FileFormat, FileRecord, ObjectText, RecordStream
from vectorizer.jobs.message import ChunkItem, ChunkMessage, envelope_size, plan_chunks, signed
from vectorizer.jobs.ports import WorkQueuePort
from vectorizer.jobs.work_queue import SQS_BATCH_ENTRIES

# Items per chunk message of a file job (setting FILE_CHUNK_SIZE).
FILE_CHUNK_SIZE = 1000


class FileSplitJob(BaseModel):
    """What the splitter needs of a file job: where the file is, its format, what every message
    carries (config, purpose, sealed token) and the key its chunks are signed with."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    bucket: str
    key: str
    file_format: FileFormat
    config: ModuleConfig = Field(default_factory=ModuleConfig)
    purpose: Purpose = "passage"
    sealed_token: str | None = None
    signing_key: str


class SplitLimits(BaseModel):
    """Items per chunk, bytes per message and characters per text."""

    model_config = ConfigDict(frozen=True)

    chunk_size: int = Field(FILE_CHUNK_SIZE, ge=1)
    max_message_bytes: int = Field(ge=1024)
    max_text_chars: int = Field(ge=1)


class SplitResult(BaseModel):
    """A step's outcome: `done` at the end of the object (then `total` items in `chunks` chunks),
    else the `cursor` the next step starts from."""

    model_config = ConfigDict(frozen=True)

    done: bool
    cursor: SplitCursor
    total: int | None = None
    chunks: int | None = None


def chunk_item(record: FileRecord) -> ChunkItem:
    """The queue item for one record: its index, id, line and text, or its error (never sent to HF)."""
    return ChunkItem(index=record.index, id=record.id, text=record.text or "", error=record.error, line=record.line)


def _budget_item(item: ChunkItem, record: FileRecord, limits: SplitLimits, envelope: int) -> ChunkItem:
    """The item itself, or, when it alone cannot fit in a message, the item failed saying so."""
    try:
        plan_chunks([item], chunk_size=1, max_message_bytes=limits.max_message_bytes, envelope_bytes=envelope)
    except ValueError:
        too_big = record.model_copy(update={
            "text": None, "error": f"line {record.line}: too large for one queue message "
            f"({limits.max_message_bytes:,} bytes)",
        })
        return chunk_item(too_big)
    return item


class _Chunk(BaseModel):
    items: list[ChunkItem]
    end: SplitCursor  # the cursor just after this chunk


def _chunks(
    records: Iterator[FileRecord], stream: RecordStream, cursor: SplitCursor, limits: SplitLimits, envelope: int
) -> Iterator[_Chunk]:
    """Pack records into chunks, in order, greedily: a chunk closes at `chunk_size` items or when
    the next item would take its message past the byte bound. Holds one chunk of records."""
    pending: list[tuple[ChunkItem, FileRecord]] = []
    number = cursor.next_chunk

    def close(group: list[tuple[ChunkItem, FileRecord]]) -> _Chunk:
        nonlocal number
        last = group[-1][1]
        end = SplitCursor(
            offset=last.end_offset, next_index=last.index + 1, next_line=last.line + last.lines, next_chunk=number + 1,
            csv_header=stream.csv_header,
        )
        number += 1
        return _Chunk(items=[item for item, _ in group], end=end)

    def plan() -> list[int]:
        """The sizes of the groups plan_chunks packs the pending items into (consecutive, in order)."""
        planned = plan_chunks(
            [item for item, _ in pending], chunk_size=limits.chunk_size,
            max_message_bytes=limits.max_message_bytes, envelope_bytes=envelope,
        )
        return [len(group) for group in planned]

    for record in records:
        item = _budget_item(chunk_item(record), record, limits, envelope)
        pending.append((item, record))
        if len(pending) < limits.chunk_size:
            continue
        # Every group but the last is closed for good; the last may still grow, unless it is full.
        sizes = plan()
        closed = sizes if sizes[-1] == limits.chunk_size else sizes[:-1]
        for size in closed:
            yield close(pending[:size])
            pending = pending[size:]
    if pending:
        for size in plan():
            yield close(pending[:size])
            pending = pending[size:]


def split_step(
    job: FileSplitJob,
    cursor: SplitCursor,
    *,
    reader: ObjectReaderPort,
    queue: WorkQueuePort,
    state: FileJobStatePort,
    limits: SplitLimits,
    deadline: float,
    object_text: ObjectText | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SplitResult:
    """Queue the file's chunks from `cursor` on, ten messages a send, until the end or `deadline`.

    Takes the job, where to start, the object reader, the work queue, where cursors are saved,
    the limits, a `clock()` time to stop before, and the `object_text` rule for Weaviate objects.
    Returns `done=True` with `total` and `chunks` at the end of the object; else `done=False`
    with the cursor to continue from (already saved). Messages carry `total` and `chunks` None:
    unknown while splitting. Raises InvalidFileError (400) for an unusable CSV header.
    """
    # The signature's size counts towards each message's, so the shell carries a stand-in.
    shell = ChunkMessage(
        job_id=job.job_id, chunk=0, config=job.config, purpose=job.purpose,
        items=[ChunkItem(index=0, text="")], sealed_token=job.sealed_token, signature="0" * 64,
    )
    envelope = envelope_size(shell)
    stream = RecordStream(
        reader.read_from(job.bucket, job.key, cursor.offset), file_format=job.file_format,
        start=cursor.position(), max_text_chars=limits.max_text_chars, object_text=object_text,
    )
    records = iter(stream)
    batch: list[str] = []
    batch_end = cursor

    def send() -> None:
        nonlocal batch
        queue.send(batch)
        state.save_cursor(job.job_id, batch_end)
        batch = []

    chunks = _chunks(records, stream, cursor, limits, envelope)
    try:
        if clock() >= deadline:
            return SplitResult(done=False, cursor=cursor)
        for chunk in chunks:
            message = shell.model_copy(update={"chunk": chunk.end.next_chunk - 1, "items": chunk.items})
            batch.append(signed(message, job.signing_key).to_json())
            batch_end = chunk.end
            if len(batch) == SQS_BATCH_ENTRIES:
                send()
                if clock() >= deadline:
                    return SplitResult(done=False, cursor=batch_end)
        if batch:
            send()
    finally:
        chunks.close()
    # A CSV file with a header and no record leaves only its header behind.
    end = batch_end.model_copy(update={"csv_header": stream.csv_header})
    state.save_cursor(job.job_id, end)
    return SplitResult(done=True, cursor=end, total=end.next_index, chunks=end.next_chunk)
