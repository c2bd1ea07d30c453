"""What 1,000,000 vectors cost on AWS, from the counts one measured job left behind.

The counts of a run (Lambda GB-seconds and invocations, SQS requests, DynamoDB read and write
units, bytes stored) are scaled LINEARLY to 1,000,000 vectors: counts x (1,000,000 / vectors
measured). That holds for the per-vector work (writes, reads, storage); fixed costs of a job
(one submit, a few status polls) are spread as if every job were the measured one's size.

Unit prices are AWS's, us-east-1, as published in late 2026, stored as exact decimals; the HF
side is a stated assumption (see HfAssumption), never a measured price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

PRICES_AS_OF = "us-east-1, published late 2026"
MILLION = Decimal(1_000_000)
TARGET_VECTORS = 1_000_000
GIB = Decimal(2**30)

LAMBDA_GB_SECOND_USD = Decimal("0.0000166667")  # x86; arm64 is about 20% less
LAMBDA_REQUEST_USD = Decimal("0.20") / MILLION
SQS_REQUEST_USD = Decimal("0.40") / MILLION  # standard queue; each 64 KB of payload is one request
DYNAMO_WRITE_UNIT_USD = Decimal("0.625") / MILLION  # on-demand, 1 KB a unit
DYNAMO_READ_UNIT_USD = Decimal("0.125") / MILLION  # on-demand, 4 KB a strongly consistent unit
DYNAMO_STORAGE_GB_MONTH_USD = Decimal("0.25")
# DynamoDB bills 100 bytes of indexing overhead on top of every item's own size.
DYNAMO_ITEM_OVERHEAD_BYTES = 100


def write_units(item_bytes: int) -> int:
    """Takes one item's size (names + values, as DynamoDB sizes it); returns the on-demand write
    units one put of it consumes: one per started kilobyte (a 1,690-byte vector item takes 2).
    """
    return max(1, math.ceil(item_bytes / 1024))


@dataclass(frozen=True)
class MeasuredCounts:
    """What one measured run used: `vectors` stored, Lambda GB-seconds (memory in GB x billed
    seconds, all functions) and invocations, SQS requests (send, receive, delete, each 64 KB one),
    DynamoDB write and read units consumed, and `stored_bytes`: the vector items' sizes as DynamoDB
    counts them (names + values, without the 100-byte overhead, which is added here per vector).
    """

    vectors: int
    lambda_gb_seconds: float
    lambda_requests: int
    sqs_requests: int
    dynamo_write_units: float
    dynamo_read_units: float
    stored_bytes: int


@dataclass(frozen=True)
class HfAssumption:
    """The model side, as an assumption: an endpoint's hourly price, the texts a second it embeds,
    and where both figures come from. Billed for the hours 1,000,000 texts take at that rate (a
    dedicated endpoint also bills while idle and per replica: not counted).
    """

    hourly_usd: Decimal
    items_per_second: Decimal
    source: str

    def hours(self, vectors: int = TARGET_VECTORS) -> Decimal:
        """Takes a number of texts; returns the endpoint hours they take at `items_per_second`."""
        return Decimal(vectors) / self.items_per_second / Decimal(3600)

    def usd(self, vectors: int = TARGET_VECTORS) -> Decimal:
        """Takes a number of texts; returns the endpoint's price for the hours they take."""
        return self.hours(vectors) * self.hourly_usd


# Neither figure was checked against a live price list here: the hourly price is Hugging Face
# Inference Endpoints' smallest CPU instance (2 vCPU) as listed on its pricing page in 2024, and
# the throughput is all-MiniLM-L6-v2 on 2 CPU cores as measured on this kind of machine (256
# short sentences in about 0.4 s).
DEFAULT_HF = HfAssumption(
    hourly_usd=Decimal("0.067"),
    items_per_second=Decimal(640),
    source="ASSUMED: HF Inference Endpoints 2-vCPU CPU instance at $0.067/h (pricing page, 2024, unchecked); "
           "640 texts/s = all-MiniLM-L6-v2 on 2 CPU cores, measured on a 2-core machine like this one",
)


@dataclass(frozen=True)
class CostRow:
    """One line of the bill: what is counted, the count for 1,000,000 vectors, the unit price, the dollars."""

    item: str
    count: Decimal
    unit: str
    unit_usd: Decimal
    usd: Decimal


@dataclass(frozen=True)
class CostTable:
    """The AWS bill for 1,000,000 vectors (rows), the factor the measured counts were scaled by,
    the vectors measured, and the HF side's assumption and its dollars, kept apart from AWS's.
    """

    rows: list[CostRow]
    scale: Decimal
    measured_vectors: int
    hf: HfAssumption
    hf_usd: Decimal
    storage_months: Decimal = field(default=Decimal(1))

    @property
    def aws_usd(self) -> Decimal:
        """The AWS rows' dollars added up."""
        return sum((row.usd for row in self.rows), Decimal(0))

    @property
    def total_usd(self) -> Decimal:
        """AWS's dollars plus the HF side's."""
        return self.aws_usd + self.hf_usd

    def to_markdown(self) -> str:
        """Returns the table as Markdown: one row per AWS item, the AWS total, the HF side and the
        total, then how the counts were scaled and where the prices come from.
        """
        lines = [
            "| item | count for 1M vectors | unit | unit price (USD) | USD |",
            "| --- | ---: | --- | ---: | ---: |",
        ]
        lines += [
            f"| {row.item} | {count_text(row.count)} | {row.unit} | {_price(row.unit_usd)} | {row.usd:.4f} |"
            for row in self.rows
        ]
        lines += [
            f"| **AWS total** | | | | **{self.aws_usd:.4f}** |",
            f"| HF endpoint (assumed) | {count_text(self.hf.hours())} | hour | {_price(self.hf.hourly_usd)} "
            f"| {self.hf_usd:.4f} |",
            f"| **total** | | | | **{self.total_usd:.4f}** |",
            "",
            f"Counts measured on {self.measured_vectors:,} vectors and scaled linearly to 1,000,000 "
            f"(x {count_text(self.scale)}). AWS unit prices: {PRICES_AS_OF}; Lambda x86. Storage: the "
            f"vector items plus DynamoDB's {DYNAMO_ITEM_OVERHEAD_BYTES} bytes an item, kept "
            f"{count_text(self.storage_months)} month(s), 1 GB = 2^30 bytes. HF side: {self.hf.source}.",
        ]
        return "\n".join(lines)


def count_text(value: Decimal) -> str:
    # Whole counts without decimals, others to three places, thousands separated.
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.3f}"


def _price(value: Decimal) -> str:
    return f"{value.normalize():f}"


def exact(value: float | int) -> Decimal:
    # Through str, so 0.1 is 0.1 and not its binary neighbour.
    return Decimal(str(value))


def cost_of_million(
    counts: MeasuredCounts, *, hf: HfAssumption = DEFAULT_HF, storage_months: Decimal = Decimal(1)
) -> CostTable:
    """Takes a run's measured counts (and the HF assumption, and how many months the vectors stay
    stored: the default job TTL is 7 days, so one month is an upper bound); returns the CostTable
    for 1,000,000 vectors, every count scaled linearly by 1,000,000 / counts.vectors.

    Raises ValueError when no vectors were measured (nothing to scale from).
    """
    if counts.vectors <= 0:
        raise ValueError("no vectors measured: nothing to scale to a million")
    scale = Decimal(TARGET_VECTORS) / Decimal(counts.vectors)
    stored = (exact(counts.stored_bytes) * scale + DYNAMO_ITEM_OVERHEAD_BYTES * TARGET_VECTORS) / GIB
    measured = [
        ("Lambda compute", exact(counts.lambda_gb_seconds) * scale, "GB-second", LAMBDA_GB_SECOND_USD),
        ("Lambda requests", exact(counts.lambda_requests) * scale, "request", LAMBDA_REQUEST_USD),
        ("SQS requests", exact(counts.sqs_requests) * scale, "request", SQS_REQUEST_USD),
        ("DynamoDB writes", exact(counts.dynamo_write_units) * scale, "write unit", DYNAMO_WRITE_UNIT_USD),
        ("DynamoDB reads", exact(counts.dynamo_read_units) * scale, "read unit", DYNAMO_READ_UNIT_USD),
        ("DynamoDB storage", stored * storage_months, "GB-month", DYNAMO_STORAGE_GB_MONTH_USD),
    ]
    rows = [CostRow(item, count, unit, price, count * price) for item, count, unit, price in measured]
    return CostTable(rows, scale, counts.vectors, hf, hf.usd(), storage_months)
