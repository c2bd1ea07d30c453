"""Vectors in DynamoDB: one item per input, keyed by job and index, read back in index order."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from vectorizer.batch_write import MAX_ROUNDS, UnprocessedItemsError, batch_write
from vectorizer.codec import decode_vector, encode_vector
from vectorizer.errors import VectorizerError
from vectorizer.jobs.timestamps import expiry


@dataclass(frozen=True)
class StoredVector:
    index: int
    id: str | None
    vector: list[float]
    # The item's line in its source file, when it came from one (the DynamoDB store does not keep it).
    line: int | None = None


# BatchGetItem takes at most 100 keys a call.
BATCH_GET_KEYS = 100

# DynamoDB keeps 38 significant digits of a number: no stored item has an index past this, and
# a key with more digits is refused (a 500, not the caller's 400).
MAX_PAGE_INDEX = 10**38 - 1


def encode_page_token(last_index: int) -> str:
    """The `nextToken` for the page after item `last_index`: URL-safe base64 of `{"i": index}`."""
    return base64.urlsafe_b64encode(json.dumps({"i": last_index}).encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """The item index a `nextToken` names; any other string is the 400 `invalid_next_token`."""
    refused = VectorizerError("nextToken is not one this service gave out", code="invalid_next_token")
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))["i"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        raise refused from None
    # bool is an int to Python (`{"i": true}`), not to DynamoDB.
    if type(value) is not int or not 0 <= value <= MAX_PAGE_INDEX:
        raise refused
    return value


class VectorStore:
    def __init__(self, dynamodb_client: Any, table: str, ttl_days: int) -> None:
        self._db = dynamodb_client
        self._table = table
        self._ttl_days = ttl_days

    def put(self, job_id: str, vectors: list[StoredVector], *, model: str) -> None:
        """Write vectors; keyed by (job, index), so a redelivered chunk overwrites, never adds."""
        ttl = str(expiry(self._ttl_days))
        # Short attribute names: each is stored and billed once per vector (a million per 1M job).
        requests = [
            {"PutRequest": {"Item": {
                "jobId": {"S": job_id}, "index": {"N": str(v.index)},
                "vector": {"B": encode_vector(v.vector)}, "dims": {"N": str(len(v.vector))},
                "model": {"S": model}, "ttl": {"N": ttl},
                **({"id": {"S": v.id}} if v.id is not None else {}),
            }}}
            for v in vectors
        ]
        batch_write(self._db, self._table, requests)

    def flush(self, job_id: str, chunk: int) -> None:
        """Takes a job id and chunk number, called once after the chunk's last `put`; returns nothing.

        Each `put` is already durable in DynamoDB, so there is nothing to do (a store that writes
        one object per chunk writes it here).
        """

    def stored_indexes(self, job_id: str, indexes: list[int]) -> set[int]:
        """Takes a job id and item indexes; returns those of them that have a stored vector.

        BatchGetItem of the keys only (100 a call); keys DynamoDB leaves unprocessed are asked
        again, and UnprocessedItemsError is raised if some still are after MAX_ROUNDS rounds.
        """
        found: set[int] = set()
        wanted = sorted(set(indexes))
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            keys = [{"jobId": {"S": job_id}, "index": {"N": str(i)}} for i in wanted[start:start + BATCH_GET_KEYS]]
            request = {self._table: {
                "Keys": keys,
                "ProjectionExpression": "#i", "ExpressionAttributeNames": {"#i": "index"}, "ConsistentRead": True,
            }}
            for round_number in range(1, MAX_ROUNDS + 1):
                answer = self._db.batch_get_item(RequestItems=request)
                found.update(int(item["index"]["N"]) for item in answer.get("Responses", {}).get(self._table, []))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                if round_number == MAX_ROUNDS:
                    raise UnprocessedItemsError(f"reads of {self._table} still unprocessed after {MAX_ROUNDS} rounds")
                time.sleep(min(2.0, 0.05 * 2**round_number))
        return found

    def page(self, job_id: str, *, limit: int, next_token: str | None) -> tuple[list[StoredVector], str | None]:
        """Takes a job id, a page size and the previous page's token; returns the vectors in index order and the next
        token (None at the end). A bad token is a 400 `invalid_next_token`.
        """
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "jobId = :job",
            "ExpressionAttributeValues": {":job": {"S": job_id}},
            "Limit": limit,
            "ScanIndexForward": True,
        }
        if next_token:
            query["ExclusiveStartKey"] = {
                "jobId": {"S": job_id}, "index": {"N": str(decode_page_token(next_token))}
            }
        answer = self._db.query(**query)
        items = [
            StoredVector(
                index=int(item["index"]["N"]),
                id=item["id"]["S"] if "id" in item else None,
                vector=decode_vector(bytes(item["vector"]["B"])),
            )
            for item in answer.get("Items", [])
        ]
        last = answer.get("LastEvaluatedKey")
        return items, (encode_page_token(int(last["index"]["N"])) if last else None)
