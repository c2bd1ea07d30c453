"""The benchmark's footprint figures: DynamoDB item sizes by DynamoDB's rules, and the ratios and goals."""

from __future__ import annotations

import pytest

from benchmarks.bulk_job_overhead import load_texts
from benchmarks.performance.footprint import (
    FootprintRow,
    RealModelRow,
    bytes_goal,
    bytes_per_vector,
    item_size,
    number_size,
    rows_from_times,
    stored_vector_item,
)

TTL = 1796676979


@pytest.fixture
def fixed_ttl(monkeypatch):
    # The expiry's trailing zeros change its size by a byte: hold it still.
    monkeypatch.setattr("vectorizer.jobs.vector_store.expiry", lambda days: TTL)


@pytest.mark.parametrize(
    ("number", "size"),
    [("1234", 3), ("12345", 4), ("384", 3), ("1000", 2), ("0.0012", 2), ("-1796676979", 6), ("1796676900", 5)],
)
def test_a_number_takes_one_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert number_size(number) == size


def test_an_item_is_the_sum_of_its_attribute_names_and_values() -> None:
    item = {"jobId": {"S": "abc"}, "index": {"N": "1234"}, "vector": {"B": b"\x00" * 16}, "done": {"BOOL": True}}

    assert item_size(item) == (5 + 3) + (5 + 3) + (6 + 16) + (4 + 1)


def test_an_item_type_no_vector_holds_is_refused_rather_than_sized_wrongly() -> None:
    with pytest.raises(ValueError, match="type L"):
        item_size({"tags": {"L": []}})


def test_the_sized_item_is_the_one_the_vector_store_wrote(fixed_ttl) -> None:
    item = stored_vector_item(8)

    assert sorted(item) == ["dims", "id", "index", "jobId", "model", "ttl", "vector"]
    assert (len(bytes(item["vector"]["B"])), item["dims"], item["ttl"]) == (32, {"N": "8"}, {"N": str(TTL)})


def test_a_384_dimension_vector_item_takes_4_bytes_a_dimension_plus_its_keys_and_metadata(fixed_ttl) -> None:
    # jobId 5+32, index 5+3, vector 6+1536, dims 4+3, model 5+38, ttl 3+6, id 2+36.
    assert bytes_per_vector(384) == 1684
    assert bytes_per_vector(384, object_id=None) == 1646
    assert bytes_goal(384) == 1686


def test_footprint_rows_are_each_handlers_import_over_boto3s() -> None:
    rows = rows_from_times(40.0, {"api": 60.0, "worker": 100.0})

    assert [(row.handler, row.ratio, row.meets_goal) for row in rows] == [("api", 1.5, True), ("worker", 2.5, False)]


def test_the_real_model_ratio_is_the_jobs_time_over_the_endpoints() -> None:
    assert (RealModelRow(1000, 10.0, 11.5).ratio, RealModelRow(1000, 10.0, 11.5).meets_goal) == (1.15, True)
    assert RealModelRow(1000, 10.0, 12.0).meets_goal is False
    assert FootprintRow("api", 80.0, 40.0).ratio == 2.0


def test_the_real_model_run_takes_the_whole_demo_corpus_when_no_count_is_given() -> None:
    # 1,858 texts: enough that the stack's fixed start-up latency does not dominate the ratio.
    assert len(load_texts(None)) == 1858
    assert load_texts(3) == load_texts(None)[:3]


def test_the_real_model_row_keeps_reading_back_out_of_the_ratio() -> None:
    row = RealModelRow(1858, 20.0, 22.0, read_back_seconds=30.0, stack_nice=10)

    assert (row.ratio, row.meets_goal, row.stack_nice) == (1.1, True, 10)


def test_the_real_model_row_sets_the_job_against_the_endpoint_fed_by_length_when_measured() -> None:
    assert RealModelRow(1858, 20.0, 16.0, grouped_ideal_seconds=12.5).ratio_to_grouped == 1.28
    assert RealModelRow(1858, 20.0, 16.0).ratio_to_grouped is None
