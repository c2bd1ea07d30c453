"""What the service weighs beside its speed: cold-start imports, bytes per stored vector, real-model overhead.

- `footprint_rows()`: each handler's `import app` against `import boto3`, in fresh interpreters
  set up as Lambda runs them (benchmarks/cold_start.py does the timing), as ratios; goal <= 2x.
- `bytes_per_vector(dimensions)`: the DynamoDB size of one vector item as `VectorStore.put`
  writes it (written into moto and read back, sized by DynamoDB's item-size rules); goal
  <= 4 x dimensions + 150.
- `real_model_ratio(texts)`: a job through the local stack with the real model, POST to
  succeeded, against the endpoint's own ceiling on the same texts (benchmarks/bulk_job_overhead.py
  does both, with the stack at a lower CPU priority than the model); goal <= 1.15. Reading the
  vectors back is timed apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.bulk_job_overhead import STACK_NICE, load_texts, measure
from benchmarks.cold_start import import_times
from vectorizer.jobs.vector_store import StoredVector, VectorStore

IMPORT_GOAL = 2.0
BYTES_GOAL_PER_DIMENSION = 4
BYTES_GOAL_OVERHEAD = 150
REAL_MODEL_GOAL = 1.15
IMPORT_RUNS = 5

# A representative item: a job id as `new_job_id` makes it, a Weaviate object's UUID as the
# item's id, the default model's name, an index in the thousands.
SAMPLE_JOB_ID = "0f8c1e2a9b3d4c5e8f7a6b5c4d3e2f1a"
SAMPLE_OBJECT_ID = "6a1f3c9e-2b7d-4e8a-9c0f-1d2e3f4a5b6c"
SAMPLE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SAMPLE_INDEX = 1234


@dataclass(frozen=True)
class FootprintRow:
    """One handler's cold-start import: its median milliseconds and those of `import boto3` alone."""

    handler: str
    import_ms: float
    boto3_ms: float

    @property
    def ratio(self) -> float:
        """The handler's import time over boto3's (1.0 = as costly as `import boto3`)."""
        return self.import_ms / self.boto3_ms

    @property
    def meets_goal(self) -> bool:
        """True when the import costs at most IMPORT_GOAL times `import boto3`."""
        return self.ratio <= IMPORT_GOAL


@dataclass(frozen=True)
class RealModelRow:
    """A job through the local stack with the real model against the endpoint's ceiling, in seconds
    (`ours_seconds` from POST to succeeded; `read_back_seconds` reading its vectors afterwards), and
    the stack's niceness beside the endpoint; `grouped_ideal_seconds` is the endpoint alone with
    the whole set sorted by length first (the least padding any client can get), when measured.
    """

    texts: int
    ideal_seconds: float
    ours_seconds: float
    read_back_seconds: float = 0.0
    stack_nice: int = 0
    grouped_ideal_seconds: float | None = None

    @property
    def ratio(self) -> float:
        """The job's time over the endpoint's own (1.0 = no overhead over calling the endpoint)."""
        return self.ours_seconds / self.ideal_seconds

    @property
    def ratio_to_grouped(self) -> float | None:
        """The job's time over the endpoint's with texts sorted by length; None when not measured."""
        return None if not self.grouped_ideal_seconds else self.ours_seconds / self.grouped_ideal_seconds

    @property
    def meets_goal(self) -> bool:
        """True when the job takes at most REAL_MODEL_GOAL times the endpoint's ceiling."""
        return self.ratio <= REAL_MODEL_GOAL


def rows_from_times(boto3_ms: float, times: dict[str, float]) -> list[FootprintRow]:
    """Takes boto3's import milliseconds and each handler's; returns one FootprintRow per handler, in order."""
    return [FootprintRow(name, ms, boto3_ms) for name, ms in times.items()]


def footprint_rows(runs: int = IMPORT_RUNS) -> list[FootprintRow]:
    """Takes the number of fresh interpreters per figure; returns each handler's import against boto3's.

    The layer's dependencies are installed into `.aws-sam/cold-start-layer` on first use (pip).
    """
    return rows_from_times(*import_times(runs))


def number_size(text: str) -> int:
    """Takes a DynamoDB number as its string; returns its stored size in bytes.

    DynamoDB's rule: leading and trailing zeros are trimmed, then 1 byte per two significant
    digits, plus 1 byte.
    """
    digits = text.lstrip("+-").replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """Takes one attribute value in DynamoDB's typed form ({"S": ...}, {"N": ...}, {"B": ...},
    {"BOOL": ...}, {"NULL": ...}); returns its size in bytes. Raises ValueError for other types,
    which no vector item holds.
    """
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return len(bytes(data))
    if kind in ("BOOL", "NULL"):
        return 1
    raise ValueError(f"no size rule here for DynamoDB type {kind}")


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """Takes a DynamoDB item in typed form; returns its size per DynamoDB's rules: the UTF-8 length
    of every attribute name plus the size of its value.
    """
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def bytes_goal(dimensions: int) -> int:
    """Takes a vector's dimensions; returns the most bytes one stored vector item should take."""
    return BYTES_GOAL_PER_DIMENSION * dimensions + BYTES_GOAL_OVERHEAD


def stored_vector_item(dimensions: int, *, object_id: str | None = SAMPLE_OBJECT_ID) -> dict[str, Any]:
    """Takes the dimensions (and the object id to store, None for none); returns the item as
    DynamoDB holds it after `VectorStore.put` of one such vector into a moto table shaped like
    the template's VectorsTable.
    """
    with mock_aws():
        # AWS's own endpoint, named: a bench run may have AWS_ENDPOINT_URL at a moto server, which mock_aws would miss.
        db = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        db.create_table(
            TableName="vectors", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"},
                                  {"AttributeName": "index", "AttributeType": "N"}],
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}, {"AttributeName": "index", "KeyType": "RANGE"}],
        )
        vector = [(number % 256 - 128) / 128 for number in range(dimensions)]
        VectorStore(db, "vectors", ttl_days=7).put(
            SAMPLE_JOB_ID, [StoredVector(SAMPLE_INDEX, object_id, vector)], model=SAMPLE_MODEL
        )
        key = {"jobId": {"S": SAMPLE_JOB_ID}, "index": {"N": str(SAMPLE_INDEX)}}
        return db.get_item(TableName="vectors", Key=key, ConsistentRead=True)["Item"]


def bytes_per_vector(dimensions: int, *, object_id: str | None = SAMPLE_OBJECT_ID) -> int:
    """Takes the dimensions (and the object id, None for an item without one); returns the DynamoDB
    size in bytes of one vector item as the vector store writes it. Compare with `bytes_goal`.
    """
    return item_size(stored_vector_item(dimensions, object_id=object_id))


def real_model_ratio(texts: int | None = None) -> RealModelRow:
    """Takes a number of demo-corpus texts (None: the whole corpus); returns the job's seconds through
    a local stack with the real model against the endpoint's ceiling on the same texts (the endpoint
    and that stack are started and stopped here; the real model must be installed, as `make e2e` does).
    """
    chosen = load_texts(texts)
    seconds = measure(chosen, with_peer=False)
    return RealModelRow(len(chosen), seconds["ideal"], seconds["ours"], seconds["read_back"], STACK_NICE,
                        seconds.get("ideal_grouped"))
