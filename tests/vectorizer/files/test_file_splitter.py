"""Splitting a file job into signed chunk messages, a bounded and repeatable step at a time."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from vectorizer.files.cursor import SplitCursor
from vectorizer.files.objects import S3Objects
from vectorizer.files.records import InvalidFileError
from vectorizer.files.splitter import FILE_CHUNK_SIZE, FileSplitJob, SplitLimits, SplitResult, split_step
from vectorizer.jobs.message import ChunkMessage, envelope_size, plan_chunks, signature_matches

KEY = "k" * 64


class Bucket:
    """One object, read from an offset in blocks of `block` bytes; counts the bytes handed out."""

    def __init__(self, data: bytes, block: int = 4096) -> None:
        self.data = data
        self.block = block

    def read_from(self, bucket: str, key: str, offset: int) -> Iterator[bytes]:
        for start in range(offset, len(self.data), self.block):
            yield self.data[start:start + self.block]


class Queue:
    def __init__(self) -> None:
        self.sends: list[list[str]] = []

    def send(self, bodies: list[str]) -> None:
        self.sends.append(list(bodies))

    @property
    def bodies(self) -> list[str]:
        return [body for batch in self.sends for body in batch]


class State:
    def __init__(self) -> None:
        self.cursors: list[SplitCursor] = []

    def save_cursor(self, job_id: str, cursor: SplitCursor) -> None:
        assert job_id == "job-1"
        self.cursors.append(cursor)


def job(file_format: str = "jsonl") -> FileSplitJob:
    return FileSplitJob(
        job_id="job-1", bucket="b", key=f"uploads/job-1/input.{file_format}", file_format=file_format,  # type: ignore[arg-type]
        config={"model": "org/model"}, sealed_token="c2VhbGVk", signing_key=KEY,
    )


def limits(chunk_size: int = 2, max_message_bytes: int = 900_000) -> SplitLimits:
    return SplitLimits(chunk_size=chunk_size, max_message_bytes=max_message_bytes, max_text_chars=20_000)


def run(
    data: bytes, cursor: SplitCursor | None = None, *, file_format: str = "jsonl", lim: SplitLimits | None = None,
    deadline: float = float("inf"), clock: Any = None, queue: Queue | None = None, state: State | None = None,
) -> tuple[SplitResult, Queue, State]:
    queue, state = queue or Queue(), state or State()
    result = split_step(
        job(file_format), cursor or SplitCursor(), reader=Bucket(data, block=5), queue=queue, state=state,
        limits=lim or limits(), deadline=deadline, **({"clock": clock} if clock else {}),
    )
    return result, queue, state


def lines(count: int, width: int = 0) -> bytes:
    rows = ({"text": f"text {n} " + "x" * width, "id": f"id-{n}"} for n in range(count))
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def messages(bodies: list[str]) -> list[ChunkMessage]:
    return [ChunkMessage.model_validate_json(body) for body in bodies]


def test_the_file_chunk_size_defaults_to_a_thousand_items() -> None:
    assert FILE_CHUNK_SIZE == 1000
    assert SplitLimits(max_message_bytes=900_000, max_text_chars=1).chunk_size == 1000


def test_a_whole_file_becomes_signed_chunks_sent_ten_at_a_time_with_the_cursor_saved_after_each_send() -> None:
    data = lines(25)
    result, queue, state = run(data)
    assert [len(batch) for batch in queue.sends] == [10, 3]
    sent = messages(queue.bodies)
    assert [m.chunk for m in sent] == list(range(13))
    assert [[item.index for item in m.items] for m in sent][:2] == [[0, 1], [2, 3]]
    assert [(item.id, item.text) for item in sent[12].items] == [("id-24", "text 24 ")]
    assert all(m.chunks is None and m.total is None for m in sent)
    assert all(signature_matches(m, KEY) for m in sent)
    assert all(m.sealed_token == "c2VhbGVk" and m.config.model == "org/model" for m in sent)
    assert [(c.offset, c.next_index, c.next_line, c.next_chunk) for c in state.cursors] == [
        (len(lines(20)), 20, 21, 10), (len(data), 25, 26, 13), (len(data), 25, 26, 13),
    ]
    assert result == SplitResult(done=True, cursor=state.cursors[-1], total=25, chunks=13)


def test_chunks_respect_the_message_byte_bound_exactly_as_plan_chunks_would_pack_them() -> None:
    data = lines(40, width=300)
    lim = limits(chunk_size=7, max_message_bytes=2048)
    _, queue, _ = run(data, lim=lim)
    sent = messages(queue.bodies)
    assert all(len(body.encode()) <= 2048 for body in queue.bodies)
    shell = sent[0].model_copy(update={"signature": "0" * 64})
    items = [item for m in sent for item in m.items]
    expected = plan_chunks(items, chunk_size=7, max_message_bytes=2048, envelope_bytes=envelope_size(shell))
    assert [[i.index for i in m.items] for m in sent] == [[i.index for i in group] for group in expected]
    assert len(sent) > 40 // 7 + 1  # the byte bound, not the count, closed chunks


def test_a_step_stops_at_its_deadline_and_the_next_goes_on_to_the_same_messages_a_single_run_sends() -> None:
    data = lines(45)
    ticks = iter([0.0, 1.0, 2.0, 3.0])
    first, queue, state = run(data, deadline=0.5, clock=lambda: next(ticks))
    assert first.done is False
    assert [len(batch) for batch in queue.sends] == [10]
    resume = SplitCursor(offset=len(lines(20)), next_index=20, next_line=21, next_chunk=10)
    assert first.cursor == state.cursors[-1] == resume
    second, queue, _ = run(data, first.cursor, queue=queue)
    assert (second.done, second.total, second.chunks) == (True, 45, 23)
    _, whole, _ = run(data)
    assert queue.bodies == whole.bodies


def test_a_step_that_starts_past_its_deadline_sends_nothing() -> None:
    result, queue, state = run(lines(5), deadline=0.0, clock=lambda: 1.0)
    assert (result.done, result.cursor, queue.sends, state.cursors) == (False, SplitCursor(), [], [])


def test_rerunning_from_an_older_cursor_resends_identical_chunks_the_worker_already_ignores() -> None:
    data = lines(45)
    _, whole, state = run(data)
    # The process died after sending the second batch, before saving its cursor.
    _, again, _ = run(data, state.cursors[0])
    assert again.bodies == whole.bodies[10:]


def test_a_csv_file_carries_its_header_in_the_cursor_so_a_later_step_reads_records_only() -> None:
    data = b"text,id\n" + b"".join(f'"row\n{n}",r{n}\n'.encode() for n in range(25))
    ticks = iter([0.0, 1.0, 2.0])
    first, queue, _ = run(data, file_format="csv", deadline=0.5, clock=lambda: next(ticks))
    assert first.cursor.csv_header == ["text", "id"]
    assert first.cursor.next_line == 2 + 2 * 20
    second, queue, _ = run(data, first.cursor, file_format="csv", queue=queue)
    items = [item for m in messages(queue.bodies) for item in m.items]
    assert [(i.index, i.id, i.text) for i in items] == [(n, f"r{n}", f"row\n{n}") for n in range(25)]
    assert (second.done, second.total, second.chunks) == (True, 25, 13)


def test_an_empty_file_or_a_header_alone_is_done_with_no_items() -> None:
    assert run(b"")[0] == SplitResult(done=True, cursor=SplitCursor(), total=0, chunks=0)
    header_only = run(b"text\n", file_format="csv")[0]
    assert (header_only.done, header_only.total, header_only.chunks) == (True, 0, 0)
    assert header_only.cursor.csv_header == ["text"]


def test_a_csv_file_without_a_text_column_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(InvalidFileError):
        run(b"body\nx\n", file_format="csv")


def test_a_bad_line_travels_as_a_failed_item_with_its_error_and_line() -> None:
    _, queue, _ = run(b'"a"\n\n"c"\n', lim=limits(chunk_size=10))
    items = messages(queue.bodies)[0].items
    assert [i.model_dump(exclude_none=True) for i in items] == [
        {"index": 0, "text": "a", "line": 1},
        {"index": 1, "text": "", "line": 2, "error": "line 2: blank line"},
        {"index": 2, "text": "c", "line": 3},
    ]


def test_an_item_too_large_for_any_message_fails_instead_of_stopping_the_job() -> None:
    data = json.dumps("y" * 3000).encode() + b'\n"small"\n'
    _, queue, _ = run(data, lim=limits(max_message_bytes=2048))
    items = [item for m in messages(queue.bodies) for item in m.items]
    assert [(i.index, i.text, getattr(i, "error", None)) for i in items] == [
        (0, "", "line 1: too large for one queue message (2,048 bytes)"), (1, "small", None),
    ]


def peak_bytes(count: int) -> int:
    data = lines(count, width=100)
    gc.collect()
    tracemalloc.start()
    try:
        run(data, lim=limits(chunk_size=100), queue=Discard())  # type: ignore[arg-type]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class Discard(Queue):
    def send(self, bodies: list[str]) -> None:
        self.sends.append([str(len(bodies))])


def test_memory_does_not_grow_with_the_file() -> None:
    small, large = peak_bytes(2_000), peak_bytes(20_000)
    assert large / small < 1.5, (small, large)


def test_steps_over_an_s3_object_read_in_ranges_send_what_one_pass_over_its_bytes_sends(
    objects: S3Objects, bucket: str
) -> None:
    data = b"\xef\xbb\xbf" + lines(37).replace(b"\n", b"\r\n")
    objects.put(bucket, "uploads/job-1/input.jsonl", data, content_type="application/x-ndjson")
    split = job().model_copy(update={"bucket": bucket})
    queue, state, cursor = Queue(), State(), SplitCursor()
    steps = 0
    while True:
        ticks = iter([0.0, 1.0])
        result = split_step(
            split, cursor, reader=objects, queue=queue, state=state, limits=limits(), deadline=0.5,
            clock=lambda ticks=ticks: next(ticks, 2.0),
        )
        steps += 1
        if result.done:
            break
        cursor = result.cursor
    _, whole, _ = run(data)
    assert (steps, result.total, result.chunks) == (2, 37, 19)
    assert queue.bodies == whole.bodies
