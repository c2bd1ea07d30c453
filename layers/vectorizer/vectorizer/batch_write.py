"""`BatchWriteItem` done right: at most 25 requests a call, unprocessed items sent again."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

MAX_BATCH_ITEMS = 25
MAX_ROUNDS = 8


class UnprocessedItemsError(RuntimeError):
    """DynamoDB kept refusing some writes (throttling); the caller's retry must redo them."""


def batch_write(
    dynamodb_client: Any,
    table: str,
    requests: list[dict[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> None:
    """Write every request (`PutRequest`/`DeleteRequest` items) to `table`; returns nothing.

    Takes a boto3 DynamoDB client, the table name and the requests; `sleep` and `rng` are the
    backoff's clock and randomness. Raises UnprocessedItemsError when DynamoDB still leaves some
    unprocessed after MAX_ROUNDS rounds of one batch.
    """
    rng = rng or random.Random()
    for start in range(0, len(requests), MAX_BATCH_ITEMS):
        pending = requests[start:start + MAX_BATCH_ITEMS]
        for round_number in range(1, MAX_ROUNDS + 1):
            answer = dynamodb_client.batch_write_item(RequestItems={table: pending})
            pending = answer.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            if round_number == MAX_ROUNDS:
                raise UnprocessedItemsError(
                    f"{len(pending)} write(s) to {table} still unprocessed after {MAX_ROUNDS} rounds"
                )
            # Unprocessed items mean throttling: back off with full jitter before the next round.
            sleep(rng.uniform(0, min(2.0, 0.05 * 2 ** round_number)))
