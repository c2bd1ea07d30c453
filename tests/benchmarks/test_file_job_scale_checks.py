"""The scale run's own checks: the generated file, and what counts as a wrong output row."""

from __future__ import annotations

import json

from benchmarks.file_jobs.cost import sqs_units
from benchmarks.file_jobs.scale import fake_vector, generated_jsonl, line_id, line_text, message_sizes, row_problems
from local.job_client import ShardRow


def rows(*lines: int) -> list[ShardRow]:
    return [ShardRow(line=n, id=line_id(n), vector=fake_vector(n)) for n in lines]


def test_the_fakes_vector_for_a_line_has_the_fake_endpoints_384_dimensions() -> None:
    assert len(fake_vector(1)) == 384
    assert fake_vector(1) != fake_vector(2)


def test_the_generated_file_breaks_exactly_the_lines_asked_and_numbers_the_others() -> None:
    lines = generated_jsonl(6, malformed=[2, 5]).decode().splitlines()

    assert len(lines) == 6
    broken = []
    for number, line in enumerate(lines, start=1):
        try:
            assert json.loads(line) == {"id": f"row-{number}", "text": line_text(number)}
        except json.JSONDecodeError:
            broken.append(number)
    assert broken == [2, 5]


def test_rows_with_the_fakes_vector_for_each_good_line_in_order_have_no_problem() -> None:
    assert row_problems(rows(1, 3, 4), 4, [2], "shards") == []


def test_a_missing_line_a_wrong_id_and_a_wrong_vector_are_each_named() -> None:
    assert row_problems(rows(1, 3), 4, [2], "shards") == [
        "shards: 2 rows for 3 good lines, not in line order (missing e.g. [4])"]
    swapped = [rows(1)[0], ShardRow(line=2, id="row-9", vector=fake_vector(3))]
    assert row_problems(swapped, 2, [], "npy") == [
        "npy: line 2 has id 'row-9'", "npy: 1 vectors are not the fake's for their line (first: line 2)"]


def test_chunk_message_sizes_come_from_splitting_the_same_file_in_chunks_of_a_thousand() -> None:
    sizes = message_sizes(generated_jsonl(2_500), 2_500)

    # Two full chunks of a thousand lines (over 64 KB: two SQS units each), then half a chunk.
    assert [sqs_units(size) for size in sizes] == [2, 2, 1]
    assert 1.9 < sizes[1] / sizes[2] < 2.1
