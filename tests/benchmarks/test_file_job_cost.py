"""The AWS cost of a 1,000,000-line file job: measured counts scaled linearly, priced per unit."""

from __future__ import annotations

from decimal import Decimal

from benchmarks.file_jobs.cost import FileJobCounts, FunctionUse, cost_of_million_lines, sqs_units

# 200,000 lines measured: everything scales by 5.
COUNTS = FileJobCounts(
    lines=200_000,
    functions=[
        FunctionUse(name="worker", invocations=200, billed_ms=400_000, memory_mb=1024),
        FunctionUse(name="splitter", invocations=2, billed_ms=20_000, memory_mb=512),
    ],
    sqs_requests=1000, dynamo_write_units=800, dynamo_read_units=200,
    s3_puts=600, s3_gets=400, s3_stored_bytes=2**30,
)


def test_sqs_bills_each_started_64_kilobytes_of_a_payload_as_one_request() -> None:
    assert [sqs_units(size) for size in (0, 1, 65_536, 65_537, 131_072 + 1)] == [1, 1, 1, 2, 3]


def test_each_count_is_scaled_to_a_million_lines_and_priced_per_unit() -> None:
    bill = cost_of_million_lines(COUNTS)

    assert bill.scale == 5
    assert [(row.item, row.count, row.usd) for row in bill.rows] == [
        ("Lambda worker", Decimal(2000), Decimal("0.0333334")),
        ("Lambda splitter", Decimal(50), Decimal("0.000833335")),
        ("Lambda requests", Decimal(1010), Decimal("0.000202")),
        ("SQS requests (64 KB units)", Decimal(5000), Decimal("0.002")),
        ("DynamoDB writes", Decimal(4000), Decimal("0.0025")),
        ("DynamoDB reads", Decimal(1000), Decimal("0.000125")),
        ("S3 PUTs", Decimal(3000), Decimal("0.015")),
        ("S3 GETs", Decimal(2000), Decimal("0.0008")),
        ("S3 storage", Decimal(5), Decimal("0.115")),
    ]


def test_a_bill_over_ten_cents_is_reported_over_the_goal() -> None:
    bill = cost_of_million_lines(COUNTS)

    assert bill.usd == Decimal("0.1697937350")
    assert not bill.within_goal
    assert "OVER the goal of $0.10" in bill.to_markdown()


def test_storage_is_priced_for_the_days_the_bucket_keeps_the_objects() -> None:
    week = cost_of_million_lines(COUNTS, storage_days=7)

    assert (week.rows[-1].item, week.rows[-1].count) == ("S3 storage", Decimal(5) * 7 / 30)
    assert week.rows[-1].usd.quantize(Decimal("1e-10")) == Decimal("0.0268333333")  # 5 GB x 7/30 x $0.023
    assert "storage kept 7 days" in week.to_markdown()
