"""Streaming a JSONL or CSV file into items, one record at a time, from any byte offset.

The file arrives as raw byte blocks of any size (an S3 ranged read), never joined whole: only
the record being read is held, and a line too long to ever be an item is counted through (its
quotes too, for CSV) without being kept.

JSONL: every physical line is one item, `index = line - 1`; the newline after the last line does
not make a line. A line is a JSON string (the text), an object `{"text": str, "id"?: str}`, or a
Weaviate object `{"id"?: str, "properties": {...}}` whose text the caller's `object_text` builds
(the API's rules, passed in: this room may not import `api/`). A blank, malformed or too long
line is an item that fails with `line N: <why>`.

CSV: the first record is the header, with a `text` column and an optional `id`; each record
after it is an item, `index = record number - 1`, `line` = the physical line it starts on.
Quoted fields may hold newlines: a record ends at a newline with an even number of quotes
before it (an escaped quote `""` counts twice, so parity is all that matters).

Both: CRLF or LF; a UTF-8 BOM at offset 0 is skipped; a record that is not UTF-8 fails.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vectorizer.errors import VectorizerError
from vectorizer.jobs.message import ITEM_ID_MAX_LENGTH

FileFormat = Literal["jsonl", "csv"]
ObjectText = Callable[[Mapping[str, Any]], str]
"""Builds the text of a Weaviate object from its `properties`, with the job's class config."""

BOM = b"\xef\xbb\xbf"
# A JSON-escaped character takes at most 6 bytes (\uXXXX); the slack holds the id and the keys.
# A line longer than this cannot hold a text within the limit, so it is skipped, not kept.
LINE_SLACK_BYTES = 64 * 1024


def max_record_bytes(max_text_chars: int) -> int:
    """Takes the text length limit; returns the most bytes a record may take before it is refused unread."""
    return 6 * max_text_chars + LINE_SLACK_BYTES


class InvalidFileError(VectorizerError):
    """The file as a whole cannot be read as items (a CSV header without a `text` column)."""

    status = 400
    code = "invalid_file"


class FileRecord(BaseModel):
    """One item of the file: its `index`, physical `line` (from 1), `id`, and either `text` or the
    `error` it fails with; `end_offset` is the byte offset just after it (where the next one starts)."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0)
    line: int = Field(ge=1)
    id: str | None = None
    text: str | None = None
    error: str | None = None
    end_offset: int = Field(ge=0)
    lines: int = Field(1, ge=1, description="the physical lines the record spans (CSV quoted newlines)")


class ParsePosition(BaseModel):
    """Where reading starts: byte `offset`, the index and physical line of the next record, and
    the CSV header when it was read before this offset (None at the start of a CSV file)."""

    model_config = ConfigDict(frozen=True)

    offset: int = Field(0, ge=0)
    next_index: int = Field(0, ge=0)
    next_line: int = Field(1, ge=1)
    csv_header: list[str] | None = None


@dataclass
class _Raw:
    """A record's bytes (None when it grew past the byte bound), its physical line count and end."""

    data: bytes | None
    lines: int
    end_offset: int


def _raw_records(
    blocks: Iterable[bytes], offset: int, max_bytes: int, *, quoted: bool
) -> Iterator[_Raw]:
    """Split the byte stream into records: at each newline, or (`quoted`) each newline after an
    even number of quotes. Holds at most one record of `max_bytes` plus one block."""
    buffer = bytearray()
    kept = True  # False once the record grew past max_bytes: its bytes are counted, not kept
    quotes = 0  # quotes in buffer[:scanned] (and in the dropped bytes of this record)
    lines = 0  # newlines in buffer[:scanned] (and in the dropped bytes of this record)
    scanned = 0
    position = offset  # absolute offset of buffer[0]
    at_start = offset == 0
    for block in blocks:
        if not block:
            continue
        buffer += block
        if at_start:
            if len(buffer) < len(BOM) and BOM.startswith(bytes(buffer)):
                continue  # could still be a BOM split across blocks
            at_start = False
            if buffer.startswith(BOM):
                del buffer[: len(BOM)]
                position += len(BOM)
        while (newline := buffer.find(b"\n", scanned)) >= 0:
            lines += 1
            if quoted:
                quotes += buffer.count(b'"', scanned, newline)
            scanned = newline + 1
            if quoted and quotes % 2:
                continue  # inside a quoted field: the record goes on
            data = bytes(buffer[:scanned]) if kept and scanned <= max_bytes else None
            yield _Raw(data, lines, position + scanned)
            del buffer[:scanned]
            position += scanned
            scanned, kept, quotes, lines = 0, True, 0, 0
        if len(buffer) > max_bytes:
            # Too long to ever be an item: keep counting its quotes, drop its bytes.
            if quoted:
                quotes += buffer.count(b'"', scanned)
            kept = False
            position += len(buffer)
            buffer.clear()
            scanned = 0
    if buffer or not kept or lines:
        lines += 1
        data = bytes(buffer) if kept and len(buffer) <= max_bytes else None
        yield _Raw(data, lines, position + len(buffer))


def _without_newline(data: bytes) -> bytes:
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def _decoded(data: bytes) -> str:
    """The record as text; raises ValueError naming the first byte that is not UTF-8."""
    try:
        return _without_newline(data).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not valid UTF-8 (byte {error.start + 1} of the line)") from None


def _checked_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"'id' must be a string, not {type(value).__name__}")
    if len(value) > ITEM_ID_MAX_LENGTH:
        raise ValueError(f"'id' has {len(value)} characters; the limit is {ITEM_ID_MAX_LENGTH}")
    return value


def _checked_text(text: Any, max_text_chars: int) -> str:
    if not isinstance(text, str):
        raise ValueError(f"'text' must be a string, not {type(text).__name__}")
    if len(text) > max_text_chars:
        raise ValueError(f"text has {len(text)} characters; the limit is {max_text_chars}")
    return text


def jsonl_item(line: str, max_text_chars: int, object_text: ObjectText | None) -> tuple[str | None, str]:
    """Takes one JSONL line (no newline); returns its (id, text), or raises ValueError saying why not."""
    if not line.strip():
        raise ValueError("blank line")
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if isinstance(value, str):
        return None, _checked_text(value, max_text_chars)
    if isinstance(value, dict) and "properties" in value:
        item_id = _checked_id(value.get("id"))
        if object_text is None:
            raise ValueError("a Weaviate object, but the job has no class to build its text")
        properties = value["properties"]
        if properties is not None and not isinstance(properties, dict):
            raise ValueError("'properties' must be an object")
        try:
            text = object_text(properties or {})
        except VectorizerError as error:
            raise ValueError(error.message) from None
        return item_id, _checked_text(text, max_text_chars)
    if isinstance(value, dict) and "text" in value:
        unknown = sorted(set(value) - {"text", "id"})
        if unknown:
            raise ValueError(f"unexpected key {unknown[0]!r} (give 'text' and an optional 'id')")
        return _checked_id(value.get("id")), _checked_text(value["text"], max_text_chars)
    raise ValueError('expected a JSON string, an object with "text", or a Weaviate object with "properties"')


def csv_fields(record: str) -> list[str]:
    """Takes one CSV record (its newline removed); returns its fields, or raises ValueError."""
    try:
        rows = list(csv.reader(io.StringIO(record, newline=""), strict=True))
    except csv.Error as error:
        raise ValueError(f"not valid CSV ({error})") from None
    if len(rows) != 1:
        raise ValueError("not valid CSV (one record expected)")
    return rows[0]


def csv_header(record: bytes | None) -> list[str]:
    """Takes the first record's bytes; returns the column names, or raises InvalidFileError (400)."""
    if record is None:
        raise InvalidFileError("the CSV header is too long to be one")
    try:
        columns = csv_fields(_decoded(record))
    except ValueError as error:
        raise InvalidFileError(f"the CSV header is not readable: {error}") from None
    if "text" not in columns:
        raise InvalidFileError("the CSV header has no 'text' column")
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise InvalidFileError(f"the CSV header names column {duplicates[0]!r} more than once")
    return columns


def csv_item(record: str, header: list[str], max_text_chars: int) -> tuple[str | None, str]:
    """Takes one CSV record and the header; returns its (id, text), or raises ValueError saying why not."""
    if not record.strip():
        raise ValueError("blank line")
    if record.count('"') % 2:
        raise ValueError("a quoted field is never closed")
    fields = csv_fields(record)
    if len(fields) != len(header):
        raise ValueError(f"{len(fields)} fields, but the header has {len(header)}")
    row = dict(zip(header, fields, strict=True))
    item_id = row.get("id") or None
    return _checked_id(item_id), _checked_text(row["text"], max_text_chars)


class RecordStream:
    """The items of a file from a position on; iterate it for `FileRecord`s.

    Takes the byte blocks (starting at `start.offset`), the format, where reading starts, the
    text length limit and, for Weaviate objects, the `object_text` rule. After the header of a
    CSV file is read, `csv_header` holds it (a cursor carries it past offset 0).
    Raises InvalidFileError (400) for a CSV file whose header is unusable.
    """

    def __init__(
        self, blocks: Iterable[bytes], *, file_format: FileFormat, start: ParsePosition,
        max_text_chars: int, object_text: ObjectText | None = None,
    ) -> None:
        self._blocks = blocks
        self._format = file_format
        self._start = start
        self._max_text_chars = max_text_chars
        self._object_text = object_text
        self.csv_header = start.csv_header

    def __iter__(self) -> Iterator[FileRecord]:
        index, line = self._start.next_index, self._start.next_line
        quoted = self._format == "csv"
        raws = _raw_records(
            self._blocks, self._start.offset, max_record_bytes(self._max_text_chars), quoted=quoted
        )
        for raw in raws:
            if quoted and self.csv_header is None:
                self.csv_header = csv_header(raw.data)
                line += raw.lines
                continue
            item_id, text, error = None, None, None
            try:
                if raw.data is None:
                    raise ValueError(f"longer than {max_record_bytes(self._max_text_chars):,} bytes")
                decoded = _decoded(raw.data)
                if quoted:
                    item_id, text = csv_item(decoded, self.csv_header or [], self._max_text_chars)
                else:
                    item_id, text = jsonl_item(decoded, self._max_text_chars, self._object_text)
            except ValueError as why:
                item_id, text, error = None, None, f"line {line}: {why}"
            yield FileRecord(
                index=index, line=line, id=item_id, text=text, error=error, end_offset=raw.end_offset,
                lines=raw.lines,
            )
            index += 1
            line += raw.lines
