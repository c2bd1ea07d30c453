"""Job records in DynamoDB: status, counters, per-chunk completion markers and item errors.

One table, keyed by `jobId` and `sk`:
- `sk = "job"`: the job itself (status, totals, counters, model, dimensions, timestamps, ttl);
- `sk = "chunk#000042"`: written once when chunk 42 is counted, in the same transaction as the
  counters, so a redelivered message can never count twice;
- `sk = "error#000000001234"`: why item 1234 has no vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .batch_write import batch_write
from .errors import JobNotFoundError
from .timestamps import expiry, now_iso

JOB_SK = "job"
FINAL_STATUSES = ("succeeded", "failed", "partial")


def chunk_sk(chunk: int) -> str:
    return f"chunk#{chunk:06d}"


def error_sk(index: int) -> str:
    return f"error#{index:012d}"


def final_status(succeeded: int, failed: int) -> str:
    if failed == 0:
        return "succeeded"
    return "failed" if succeeded == 0 else "partial"


@dataclass(frozen=True)
class ItemError:
    index: int
    id: str | None
    error: str


@dataclass
class JobRecord:
    job_id: str
    status: str
    total: int | None
    chunks: int | None
    chunks_done: int
    succeeded: int
    failed: int
    model: str | None
    dimensions: int | None
    created_at: str
    updated_at: str
    errors: list[ItemError] = field(default_factory=list)


def _n(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value else None


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value else None


def _record(item: dict[str, Any]) -> JobRecord:
    return JobRecord(
        job_id=item["jobId"]["S"],
        status=item["status"]["S"],
        total=_n(item, "total"),
        chunks=_n(item, "chunks"),
        chunks_done=_n(item, "chunksDone") or 0,
        succeeded=_n(item, "succeeded") or 0,
        failed=_n(item, "failed") or 0,
        model=_s(item, "model"),
        dimensions=_n(item, "dimensions"),
        created_at=_s(item, "createdAt") or "",
        updated_at=_s(item, "updatedAt") or "",
    )


class JobStore:
    def __init__(self, dynamodb_client: Any, table: str, ttl_days: int) -> None:
        self._db = dynamodb_client
        self._table = table
        self._ttl_days = ttl_days

    def create(self, job_id: str, *, total: int, chunks: int, model: str) -> None:
        stamp = now_iso()
        self._db.put_item(
            TableName=self._table,
            Item={
                "jobId": {"S": job_id}, "sk": {"S": JOB_SK}, "status": {"S": "queued"},
                "total": {"N": str(total)}, "chunks": {"N": str(chunks)},
                "chunksDone": {"N": "0"}, "succeeded": {"N": "0"}, "failed": {"N": "0"},
                "model": {"S": model}, "createdAt": {"S": stamp}, "updatedAt": {"S": stamp},
                "ttl": {"N": str(expiry(self._ttl_days))},
            },
            ConditionExpression="attribute_not_exists(jobId)",
        )

    def mark_failed(self, job_id: str, reason: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
            UpdateExpression="SET #s = :failed, updatedAt = :now, failureReason = :why",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":failed": {"S": "failed"}, ":now": {"S": now_iso()}, ":why": {"S": reason[:1000]}
            },
        )

    def start(self, job_id: str, *, model: str, total: int | None, chunks: int | None) -> None:
        """Mark the job running, creating it on first sight (a producer wrote straight to the queue)."""
        stamp = now_iso()
        values: dict[str, Any] = {
            ":running": {"S": "running"}, ":queued": {"S": "queued"}, ":now": {"S": stamp},
            ":zero": {"N": "0"}, ":model": {"S": model}, ":ttl": {"N": str(expiry(self._ttl_days))},
        }
        # Every attribute goes through a placeholder: several (`total`, `ttl`, `status`) are
        # DynamoDB reserved words, and one rule for all is easier to read than a list of exceptions.
        defaults = {"createdAt": ":now", "model": ":model", "ttl": ":ttl", "chunksDone": ":zero",
                    "succeeded": ":zero", "failed": ":zero"}
        if total is not None:
            defaults["total"] = ":total"
            values[":total"] = {"N": str(total)}
        if chunks is not None:
            defaults["chunks"] = ":chunks"
            values[":chunks"] = {"N": str(chunks)}
        names = {"#s": "status", "#updatedAt": "updatedAt"} | {f"#{name}": name for name in defaults}
        sets = ["#updatedAt = :now"] + [
            f"#{name} = if_not_exists(#{name}, {value})" for name, value in defaults.items()
        ]
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
                UpdateExpression="SET #s = :running, " + ", ".join(sets),
                # A finished job stays finished: a late duplicate must not reopen it.
                ConditionExpression="attribute_not_exists(#s) OR #s IN (:queued, :running)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def chunk_done(self, job_id: str, chunk: int) -> bool:
        answer = self._db.get_item(
            TableName=self._table,
            Key={"jobId": {"S": job_id}, "sk": {"S": chunk_sk(chunk)}},
            ConsistentRead=True,
        )
        return "Item" in answer

    def record_errors(self, job_id: str, errors: list[ItemError]) -> None:
        """Write item errors; keyed by index, so writing them again changes nothing."""
        requests = [
            {"PutRequest": {"Item": {
                "jobId": {"S": job_id}, "sk": {"S": error_sk(e.index)}, "index": {"N": str(e.index)},
                "error": {"S": e.error[:1000]}, "ttl": {"N": str(expiry(self._ttl_days))},
                **({"id": {"S": e.id}} if e.id is not None else {}),
            }}}
            for e in errors
        ]
        batch_write(self._db, self._table, requests)

    def count_chunk(
        self, job_id: str, chunk: int, *, succeeded: int, failed: int, dimensions: int | None
    ) -> bool:
        """Add a chunk's counts once. False when it had been counted already (a redelivery)."""
        stamp = now_iso()
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
            "UpdateExpression": "ADD succeeded :s, failed :f, chunksDone :one SET updatedAt = :now"
            + (", dimensions = if_not_exists(dimensions, :d)" if dimensions else ""),
            "ExpressionAttributeValues": {
                ":s": {"N": str(succeeded)}, ":f": {"N": str(failed)}, ":one": {"N": "1"},
                ":now": {"S": stamp}, **({":d": {"N": str(dimensions)}} if dimensions else {}),
            },
        }
        marker = {
            "TableName": self._table,
            "Item": {
                "jobId": {"S": job_id}, "sk": {"S": chunk_sk(chunk)}, "succeeded": {"N": str(succeeded)},
                "failed": {"N": str(failed)}, "countedAt": {"S": stamp},
                "ttl": {"N": str(expiry(self._ttl_days))},
            },
            "ConditionExpression": "attribute_not_exists(sk)",
        }
        try:
            self._db.transact_write_items(TransactItems=[{"Put": marker}, {"Update": update}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            raise
        return True

    def finish_if_complete(self, job_id: str) -> str | None:
        """Close the job once every chunk is counted; returns the final status if it closed."""
        job = self._get_item(job_id)
        if job is None or job.status in FINAL_STATUSES:
            return None
        if job.chunks is not None and job.chunks_done < job.chunks:
            return None
        status = final_status(job.succeeded, job.failed)
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
                UpdateExpression="SET #s = :final, updatedAt = :now",
                ConditionExpression="#s IN (:queued, :running)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":final": {"S": status}, ":now": {"S": now_iso()},
                    ":queued": {"S": "queued"}, ":running": {"S": "running"},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return status

    def _get_item(self, job_id: str) -> JobRecord | None:
        answer = self._db.get_item(
            TableName=self._table, Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}}, ConsistentRead=True
        )
        return _record(answer["Item"]) if "Item" in answer else None

    def get(self, job_id: str, *, max_errors: int) -> JobRecord:
        job = self._get_item(job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        if job.failed and max_errors:
            job.errors = self._errors(job_id, max_errors)
        return job

    def _errors(self, job_id: str, limit: int) -> list[ItemError]:
        errors: list[ItemError] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "jobId = :job AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":job": {"S": job_id}, ":prefix": {"S": "error#"}},
        }
        while len(errors) < limit:
            answer = self._db.query(**query, Limit=limit - len(errors))
            errors.extend(
                ItemError(index=int(i["index"]["N"]), id=_s(i, "id"), error=i["error"]["S"])
                for i in answer.get("Items", [])
            )
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return errors
