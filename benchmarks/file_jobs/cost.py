"""What a 1,000,000-line file job costs on AWS beside the model, from the counts one measured file job used.

Method: a measured job's counts (each function's invocations, billed milliseconds and memory; SQS
billing units; DynamoDB read and write units; S3 PUTs, GETs and bytes stored) are scaled LINEARLY
to 1,000,000 lines: count x (1,000,000 / lines measured). Every count of a file job grows with its
lines or its chunks (1,000 lines each), so a run of 200,000 lines (200 chunks) scales by 5; the
few fixed requests of a job (one POST, the upload's PUT, the manifest) are counted as if every job
were the measured one's size, which overstates them for larger jobs.

SQS bills each 64 KB of an action's payload as one request: a chunk message of 120 KB is 2 to
send and 2 to receive; one delete per received batch. Rounded up per message, not per batch: an
upper bound. S3 storage is the job's output (shards, manifest, failures) plus the uploaded file,
kept until the files bucket's lifecycle removes them: JobTtlDays (7 by default) of a 30-day month.

Unit prices: AWS's, us-east-1, as published in late 2026 (/work/shared/facts.md's list; Lambda
x86); the Lambda, SQS and DynamoDB ones are `benchmarks.performance.costs`'s. The model's side
is left out: the goal is at most $0.10 of AWS beside it.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from benchmarks.performance.costs import (
    DYNAMO_READ_UNIT_USD,
    DYNAMO_WRITE_UNIT_USD,
    GIB,
    LAMBDA_GB_SECOND_USD,
    LAMBDA_REQUEST_USD,
    PRICES_AS_OF,
    SQS_REQUEST_USD,
    CostRow,
    count_text,
    exact,
)

TARGET_LINES = 1_000_000
GOAL_USD = Decimal("0.10")
SQS_BILLING_BYTES = 64 * 1024
S3_PUT_USD = Decimal("0.005") / Decimal(1000)  # Standard, PUT/COPY/POST/LIST
S3_GET_USD = Decimal("0.0004") / Decimal(1000)  # Standard, GET and others
S3_STORAGE_GB_MONTH_USD = Decimal("0.023")
DEFAULT_TTL_DAYS = 7  # the template's JobTtlDays: the files bucket expires uploads/ and jobs/ after it


def sqs_units(payload_bytes: int) -> int:
    """Takes one action's payload size; returns the SQS requests it is billed as (one per started 64 KB)."""
    return max(1, math.ceil(payload_bytes / SQS_BILLING_BYTES))


class FunctionUse(BaseModel):
    """One function's part of a job: its invocations, their billed milliseconds in all, its memory."""

    model_config = ConfigDict(frozen=True)

    name: str
    invocations: int = Field(ge=0)
    billed_ms: float = Field(ge=0)
    memory_mb: int = Field(ge=128)

    @property
    def gb_seconds(self) -> Decimal:
        """Memory in GB (1,024 MB) times billed seconds."""
        return Decimal(str(self.billed_ms)) / 1000 * Decimal(self.memory_mb) / 1024


class FileJobCounts(BaseModel):
    """What one measured file job of `lines` lines used, as AWS bills it."""

    model_config = ConfigDict(frozen=True)

    lines: int = Field(gt=0)
    functions: list[FunctionUse]
    sqs_requests: int = Field(ge=0)
    dynamo_write_units: float = Field(ge=0)
    dynamo_read_units: float = Field(ge=0)
    s3_puts: int = Field(ge=0)
    s3_gets: int = Field(ge=0)
    s3_stored_bytes: int = Field(ge=0)


@dataclass(frozen=True)
class FileJobCost:
    """The AWS bill of a 1,000,000-line file job (rows), the scale factor and the lines measured."""

    rows: list[CostRow]
    scale: Decimal
    measured_lines: int
    storage_days: int = 30

    @property
    def usd(self) -> Decimal:
        """The rows' dollars added up."""
        return sum((row.usd for row in self.rows), Decimal(0))

    @property
    def within_goal(self) -> bool:
        """Whether the bill is at most GOAL_USD."""
        return self.usd <= GOAL_USD

    def to_markdown(self) -> str:
        """Returns the bill as a Markdown table, its total against the goal, and the method in one line."""
        lines = [
            "| item | count for 1M lines | unit | unit price (USD) | USD |",
            "| --- | ---: | --- | ---: | ---: |",
        ]
        lines += [
            f"| {row.item} | {count_text(row.count)} | {row.unit} | {row.unit_usd.normalize():f} | {row.usd:.5f} |"
            for row in self.rows
        ]
        verdict = "within" if self.within_goal else "OVER"
        lines += [
            f"| **AWS total** | | | | **{self.usd:.4f}** |",
            "",
            f"{verdict} the goal of ${GOAL_USD} per 1,000,000 lines beside the model's cost. Counts measured on "
            f"{self.measured_lines:,} lines, scaled linearly (x {count_text(self.scale)}); prices {PRICES_AS_OF}, "
            f"Lambda x86, S3 Standard, storage kept {self.storage_days} days (of a 30-day month).",
        ]
        return "\n".join(lines)


def cost_of_million_lines(counts: FileJobCounts, storage_days: int = 30) -> FileJobCost:
    """Takes a measured file job's counts and the days its objects are kept (the bucket's lifecycle);
    returns the AWS bill of 1,000,000 lines, every count scaled by 1,000,000 / counts.lines (one
    row per function's GB-seconds, then the rest; storage in GB-months of 30 days)."""
    scale = Decimal(TARGET_LINES) / Decimal(counts.lines)
    rows = [
        CostRow(f"Lambda {use.name}", use.gb_seconds * scale, "GB-second", LAMBDA_GB_SECOND_USD,
                use.gb_seconds * scale * LAMBDA_GB_SECOND_USD)
        for use in counts.functions
    ]
    invocations = Decimal(sum(use.invocations for use in counts.functions)) * scale
    stored_gb_months = exact(counts.s3_stored_bytes) * scale / GIB * Decimal(storage_days) / 30
    rest = [
        ("Lambda requests", invocations, "request", LAMBDA_REQUEST_USD),
        ("SQS requests (64 KB units)", exact(counts.sqs_requests) * scale, "request", SQS_REQUEST_USD),
        ("DynamoDB writes", exact(counts.dynamo_write_units) * scale, "write unit", DYNAMO_WRITE_UNIT_USD),
        ("DynamoDB reads", exact(counts.dynamo_read_units) * scale, "read unit", DYNAMO_READ_UNIT_USD),
        ("S3 PUTs", exact(counts.s3_puts) * scale, "request", S3_PUT_USD),
        ("S3 GETs", exact(counts.s3_gets) * scale, "request", S3_GET_USD),
        ("S3 storage", stored_gb_months, "GB-month", S3_STORAGE_GB_MONTH_USD),
    ]
    rows += [CostRow(item, count, unit, price, count * price) for item, count, unit, price in rest]
    return FileJobCost(rows, scale, counts.lines, storage_days)


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m benchmarks.file_jobs.cost COUNTS.json [DAYS]` prints the bill of the counts in
    that file (a FileJobCounts, as the scale run writes it), objects kept DAYS (7); exits 1 when it
    is over the goal."""
    args = sys.argv[1:] if argv is None else argv
    counts = FileJobCounts.model_validate(json.loads(Path(args[0]).read_text()))
    bill = cost_of_million_lines(counts, int(args[1]) if len(args) > 1 else DEFAULT_TTL_DAYS)
    print(bill.to_markdown())
    return 0 if bill.within_goal else 1


if __name__ == "__main__":
    raise SystemExit(main())

