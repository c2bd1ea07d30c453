"""Reading a JSONL or CSV file as items, from any byte offset, in blocks of any size."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vectorizer.files.records import (
    FileRecord,
    InvalidFileError,
    ParsePosition,
    RecordStream,
    max_record_bytes,
)


def blocks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def read(
    data: bytes, file_format: str = "jsonl", *, size: int = 7, start: ParsePosition | None = None,
    max_text_chars: int = 100, object_text: Any = None,
) -> list[FileRecord]:
    start = start or ParsePosition()
    return list(RecordStream(
        blocks_of(data[start.offset:], size), file_format=file_format, start=start,  # type: ignore[arg-type]
        max_text_chars=max_text_chars, object_text=object_text,
    ))


def brief(records: list[FileRecord]) -> list[tuple[int, int, str | None, str | None, str | None]]:
    return [(r.index, r.line, r.id, r.text, r.error) for r in records]


def title_text(properties: Mapping[str, Any]) -> str:
    return f"Article {properties['title']}"


def test_each_jsonl_form_gives_its_text_and_id() -> None:
    data = (
        b'"plain"\n{"text": "with id", "id": "a-1"}\n{"text": "no id"}\n'
        b'{"id": "w-1", "properties": {"title": "T"}}\n'
    )
    assert brief(read(data, object_text=title_text)) == [
        (0, 1, None, "plain", None), (1, 2, "a-1", "with id", None), (2, 3, None, "no id", None),
        (3, 4, "w-1", "Article T", None),
    ]


def test_a_bad_jsonl_line_is_an_item_that_fails_saying_which_line_and_why() -> None:
    data = (
        b'\n  \n{"text": 1}\n[1]\n{"text": "x", "extra": 2}\n{"text": "x", "id": 5}\n{oops\n'
        b'{"properties": {"title": "T"}}\n"' + b"y" * 101 + b'"\n'
    )
    records = read(data)
    assert [r.error for r in records] == [
        "line 1: blank line",
        "line 2: blank line",
        "line 3: 'text' must be a string, not int",
        'line 4: expected a JSON string, an object with "text", or a Weaviate object with "properties"',
        "line 5: unexpected key 'extra' (give 'text' and an optional 'id')",
        "line 6: 'id' must be a string, not int",
        "line 7: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        "line 8: a Weaviate object, but the job has no class to build its text",
        "line 9: text has 101 characters; the limit is 100",
    ]
    assert [r.index for r in records] == list(range(9))
    assert all(r.text is None for r in records)


def test_a_weaviate_object_refused_by_the_class_rules_fails_with_their_message() -> None:
    from vectorizer.api.weaviate_objects import object_text

    def rule(properties: Mapping[str, Any]) -> str:
        return object_text({"class": "Article"}, properties)

    records = read(b'{"properties": {"title": "ok"}}\n{"properties": {"Title": "a", "title": "b"}}\n', object_text=rule)
    assert brief(records) == [
        (0, 1, None, "Article ok", None),
        (1, 2, None, None, "line 2: properties 'title' and 'title' on class 'Article' are the same Weaviate property"),
    ]


def test_crlf_a_bom_and_a_missing_final_newline_change_nothing() -> None:
    plain = read(b'"a"\n"b"\n"c"')
    assert brief(read(b'\xef\xbb\xbf"a"\r\n"b"\r\n"c"', size=1)) == brief(plain) == [
        (0, 1, None, "a", None), (1, 2, None, "b", None), (2, 3, None, "c", None),
    ]


def test_the_newline_after_the_last_line_does_not_make_a_line_and_an_empty_file_has_no_items() -> None:
    assert len(read(b'"a"\n"b"\n')) == 2
    assert read(b"") == []
    assert read(b"\xef\xbb\xbf") == []


def test_invalid_utf8_fails_only_its_own_line() -> None:
    assert brief(read(b'"ok"\n"\xff\xfe"\n"fine"\n')) == [
        (0, 1, None, "ok", None), (1, 2, None, None, "line 2: not valid UTF-8 (byte 2 of the line)"),
        (2, 3, None, "fine", None),
    ]


def test_a_line_too_long_to_be_an_item_fails_unkept_and_the_next_line_still_reads() -> None:
    limit = max_record_bytes(10)
    data = b'"' + b"x" * (limit + 5000) + b'"\n"after"\n'
    records = read(data, size=4096, max_text_chars=10)
    assert brief(records) == [
        (0, 1, None, None, f"line 1: longer than {limit:,} bytes"), (1, 2, None, "after", None),
    ]
    assert [r.end_offset for r in records] == [limit + 5003, len(data)]


def test_end_offsets_are_where_the_next_record_starts_and_reading_from_one_gives_the_rest() -> None:
    data = b'\xef\xbb\xbf"a"\r\n{"text": "b", "id": "2"}\n\n"d"\n'
    everything = read(data)
    assert [r.end_offset for r in everything] == [8, 33, 34, 38]
    second = everything[1]
    rest = read(data, start=ParsePosition(offset=second.end_offset, next_index=2, next_line=3))
    assert rest == everything[2:]


CSV = (
    b'id,text,other\r\n'
    b'1,"hello\nworld",x\r\n'
    b'2,plain,y\n'
    b',"she said ""hi""",z\n'
    b'3,short\n'
    b'\n'
    b'4,"never closed\n'
)


def test_csv_records_may_span_lines_and_keep_their_first_line_number() -> None:
    stream = RecordStream(blocks_of(CSV, 5), file_format="csv", start=ParsePosition(), max_text_chars=100)
    records = list(stream)
    assert brief(records) == [
        (0, 2, "1", "hello\nworld", None),
        (1, 4, "2", "plain", None),
        (2, 5, None, 'she said "hi"', None),
        (3, 6, None, None, "line 6: 2 fields, but the header has 3"),
        (4, 7, None, None, "line 7: blank line"),
        (5, 8, None, None, "line 8: a quoted field is never closed"),
    ]
    assert stream.csv_header == ["id", "text", "other"]


def test_csv_read_from_a_cursor_uses_the_header_it_carries() -> None:
    everything = read(CSV, "csv")
    header = ["id", "text", "other"]
    start = ParsePosition(offset=everything[1].end_offset, next_index=2, next_line=5, csv_header=header)
    assert read(CSV, "csv", start=start) == everything[2:]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"id,body\n1,x\n", "the CSV header has no 'text' column"),
        (b"text,text\nx,y\n", "the CSV header names column 'text' more than once"),
        (b'"text\n', "the CSV header is not readable: not valid CSV (unexpected end of data)"),
    ],
)
def test_a_csv_header_without_one_usable_text_column_refuses_the_whole_file(header: bytes, message: str) -> None:
    with pytest.raises(InvalidFileError) as caught:
        read(header, "csv")
    assert (caught.value.status, caught.value.code, caught.value.message) == (400, "invalid_file", message)


def test_a_csv_text_too_long_or_id_too_long_fails_its_record() -> None:
    data = b"id,text\n1," + b"x" * 11 + b"\n" + b"i" * 513 + b",ok\n"
    assert [r.error for r in read(data, "csv", max_text_chars=10)] == [
        "line 2: text has 11 characters; the limit is 10",
        "line 3: 'id' has 513 characters; the limit is 512",
    ]


jsonl_lines = st.lists(
    st.one_of(
        st.text(max_size=12).map(json.dumps),
        st.builds(lambda t, i: json.dumps({"text": t, "id": i}), st.text(max_size=8), st.text(max_size=4)),
        st.sampled_from(["", "{bad", "\udcff"]),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    lines=jsonl_lines, crlf=st.booleans(), bom=st.booleans(), final_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30),
)
def test_any_split_of_the_same_jsonl_bytes_gives_the_same_records(
    lines: list[str], crlf: bool, bom: bool, final_newline: bool, cuts: list[int]
) -> None:
    newline = "\r\n" if crlf else "\n"
    text = newline.join(lines) + (newline if final_newline and lines else "")
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogateescape")
    positions = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    blocks = [data[a:b] for a, b in itertools.pairwise(positions)]
    whole = list(RecordStream([data], file_format="jsonl", start=ParsePosition(), max_text_chars=100))
    split = list(RecordStream(blocks, file_format="jsonl", start=ParsePosition(), max_text_chars=100))
    assert split == whole


csv_fields = st.text(alphabet='ab,"\n\r x', max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(csv_fields, csv_fields), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30),
)
def test_any_split_of_the_same_csv_bytes_gives_the_same_records(rows: list[tuple[str, str]], cuts: list[int]) -> None:
    body = "".join(f'"{a.replace(chr(34), chr(34) * 2)}","{b.replace(chr(34), chr(34) * 2)}"\n' for a, b in rows)
    data = ("id,text\n" + body).encode()
    positions = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    blocks = [data[a:b] for a, b in itertools.pairwise(positions)]
    whole = list(RecordStream([data], file_format="csv", start=ParsePosition(), max_text_chars=100))
    assert [(r.id, r.text) for r in whole] == [(a or None, b) for a, b in rows]
    assert list(RecordStream(blocks, file_format="csv", start=ParsePosition(), max_text_chars=100)) == whole
