"""The cost of a million vectors: measured counts scaled linearly, priced at late-2026 us-east-1 prices."""

from __future__ import annotations

from decimal import Decimal

import pytest

from benchmarks.performance.costs import HfAssumption, MeasuredCounts, cost_of_million, write_units

# 1,000 vectors measured: everything scales by 1,000.
COUNTS = MeasuredCounts(
    vectors=1000, lambda_gb_seconds=12.5, lambda_requests=40, sqs_requests=120,
    dynamo_write_units=2000, dynamo_read_units=500, stored_bytes=973_742,
)
HF = HfAssumption(hourly_usd=Decimal("0.72"), items_per_second=Decimal(500), source="stated for the test")


def test_each_count_is_scaled_to_a_million_vectors_and_priced_per_unit() -> None:
    table = cost_of_million(COUNTS, hf=HF)

    assert table.scale == 1000
    assert [(row.item, row.count, row.usd) for row in table.rows[:5]] == [
        ("Lambda compute", 12500, Decimal("0.20833375")),
        ("Lambda requests", 40000, Decimal("0.008")),
        ("SQS requests", 120000, Decimal("0.048")),
        ("DynamoDB writes", 2_000_000, Decimal("1.25")),
        ("DynamoDB reads", 500_000, Decimal("0.0625")),
    ]


def test_storage_adds_dynamodbs_100_bytes_an_item_and_counts_gigabytes_of_2_to_the_30() -> None:
    # 973,742,000 item bytes + 100,000,000 overhead = 1,073,742,000 bytes, 176 bytes over 1 GiB.
    storage = cost_of_million(COUNTS, hf=HF).rows[5]

    assert (storage.item, storage.unit) == ("DynamoDB storage", "GB-month")
    assert storage.count == Decimal(1_073_742_000) / Decimal(2**30)
    assert storage.usd == storage.count * Decimal("0.25")
    assert cost_of_million(COUNTS, hf=HF, storage_months=Decimal(2)).rows[5].count == 2 * storage.count


def test_the_hf_side_is_the_hours_a_million_texts_take_at_the_stated_rate_times_the_hourly_price() -> None:
    table = cost_of_million(COUNTS, hf=HF)

    assert HF.hours() == Decimal(2000) / Decimal(3600)  # 1,000,000 / 500 = 2,000 s
    assert table.hf_usd == Decimal("0.4000000000000000000000000000")
    assert table.total_usd == table.aws_usd + Decimal("0.4")


def test_the_markdown_names_the_scaling_the_price_date_and_the_hf_source() -> None:
    markdown = cost_of_million(COUNTS, hf=HF).to_markdown()

    assert "| Lambda compute | 12,500 | GB-second | 0.0000166667 | 0.2083 |" in markdown
    assert "| DynamoDB writes | 2,000,000 | write unit | 0.000000625 | 1.2500 |" in markdown
    assert "| HF endpoint (assumed) | 0.556 | hour | 0.72 | 0.4000 |" in markdown
    assert "Counts measured on 1,000 vectors and scaled linearly to 1,000,000 (x 1,000)." in markdown
    assert "us-east-1, published late 2026" in markdown
    assert "HF side: stated for the test." in markdown


def test_fractional_measured_counts_scale_exactly() -> None:
    counts = MeasuredCounts(3, 0.1, 3, 3, 1.5, 0.5, 0)

    rows = cost_of_million(counts, hf=HF).rows

    assert rows[0].count == Decimal(1_000_000) / 3 * Decimal("0.1")
    assert rows[3].count == Decimal(1_000_000) / 3 * Decimal("1.5")


def test_no_measured_vectors_is_refused_rather_than_divided_by() -> None:
    with pytest.raises(ValueError, match="no vectors measured"):
        cost_of_million(MeasuredCounts(0, 1.0, 1, 1, 1, 1, 1))


@pytest.mark.parametrize(("item_bytes", "units"), [(0, 1), (1024, 1), (1025, 2), (1690, 2), (4246, 5)])
def test_a_put_takes_one_write_unit_per_started_kilobyte(item_bytes: int, units: int) -> None:
    assert write_units(item_bytes) == units
