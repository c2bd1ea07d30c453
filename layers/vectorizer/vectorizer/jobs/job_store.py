"""Job records in DynamoDB: status, counters, per-chunk completion markers and item errors.

One table, keyed by `jobId` and `sk`:
- `sk = "job"`: the job itself (status, totals, counters, what HF was asked and what the cache
  and dedupe saved it (`hfTexts`, `hfCacheHits`, `hfSent`, `hfRequests`, `hfRequestsSaved`, added
  with each chunk's counts), model, dimensions, timestamps, ttl,
  and its `origin`: `api` for a job `create` made, `producer` for one first seen on the queue;
  an API job also keeps `signingKey`, the key its chunk messages are signed with, which only the
  worker's `start` reads back: `get`, which answers the API's reads, never returns it);
- `sk = "chunk#000042"`: written when chunk 42 is counted, in the same transaction as the
  counters, so a redelivered message can never count twice; it keeps the fingerprint of the
  chunk's item indexes, so that a producer reusing the number for other items is told apart
  from a redelivery, the chunk's own counts, and who closed it (`closedBy`: the worker, or the
  dead-letter queue's consumer). A chunk counted with failed items may be counted again when a
  later run stores more of its vectors (`recount_chunk`): the marker is replaced only if it
  still holds the counts read, and the job's counters move by the difference in the same
  transaction, so the chunk's items are never counted twice;
- `sk = "error#000000001234"`: why item 1234 has no vector.

Open jobs are findable without a scan: while a job is open (`queued` or `running`) its item
carries `openShard`, the partition key of the sparse index `OPEN_JOBS_INDEX` (sort key
`updatedAt`, which every start, count and close moves: it is the job's last progress). Closing a
job (`finish_if_complete`, `mark_failed`, `close_stalled`) removes it, so the index only ever
holds open jobs. An API job also carries `submitting` until all its chunks are on the queue.

A job closes when its `chunks` are all counted, else (no chunk count) when `total` items are
counted. A job with neither is never complete: after each chunk its status is set again from its
counters, so it may move between `succeeded`, `partial` and `failed` as chunks arrive. A job
given up on (`mark_failed`: its chunks could not all be queued) is `failed` and `aborted`, and
its chunks are skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from vectorizer.batch_write import batch_write
from vectorizer.errors import JobNotFoundError
from vectorizer.hf.usage import HfUsage
from vectorizer.jobs.timestamps import expiry, now_iso

JOB_SK = "job"
FINAL_STATUSES = ("succeeded", "failed", "partial")
OPEN_STATUSES = ("queued", "running")
# The sparse index of open jobs, and how many partitions its entries are spread over (a single
# key value would make one hot partition of every job write).
OPEN_JOBS_INDEX = "OpenJobs"
OPEN_SHARDS = 4
API_ORIGIN = "api"
PRODUCER_ORIGIN = "producer"
# Who counted a chunk, as its marker says.
CLOSED_BY_WORKER = "worker"
CLOSED_BY_DEAD_LETTER = "dead-letter"
# The job item's `output` for a file job, whose vectors are written to S3 as shards.
OUTPUT_FILES = "files"
# The job item's usage counters, by `HfUsage` field.
USAGE_ATTRIBUTES = {
    "texts": "hfTexts", "cache_hits": "hfCacheHits", "sent": "hfSent", "requests": "hfRequests",
    "requests_saved": "hfRequestsSaved",
}


def chunk_sk(chunk: int) -> str:
    """Takes a chunk number; returns the sort key of its counted-chunk marker."""
    return f"chunk#{chunk:06d}"


def error_sk(index: int) -> str:
    """Takes an item index; returns the sort key of its item error."""
    return f"error#{index:012d}"


def items_fingerprint(indexes: Iterable[int]) -> str:
    """What a chunk holds, as far as counting goes: the SHA-256 of its sorted item indexes."""
    return hashlib.sha256(",".join(str(i) for i in sorted(indexes)).encode("ascii")).hexdigest()


def open_shard(job_id: str) -> str:
    """Takes a job id; returns its partition of the open-jobs index, "0" to OPEN_SHARDS - 1."""
    return str(int(hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:8], 16) % OPEN_SHARDS)


def job_not_found(job_id: str) -> JobNotFoundError:
    """The one 404 for a job id, whether no job has it or it is someone else's."""
    return JobNotFoundError(f"no job with id {job_id[:140]!r}")


def final_status(succeeded: int, failed: int) -> str:
    """Takes a job's counts; returns `succeeded` (no failure), `failed` (no success) or `partial`."""
    if failed == 0:
        return "succeeded"
    return "failed" if succeeded == 0 else "partial"


@dataclass(frozen=True)
class ItemError:
    index: int
    id: str | None
    error: str
    # The item's line in its source file, for a file job (its failures file says where to look).
    line: int | None = None


@dataclass(frozen=True)
class ChunkMarker:
    """A counted chunk: the fingerprint of its indexes ("" if counted before they were kept), its
    own counts and who closed it (`CLOSED_BY_WORKER` or `CLOSED_BY_DEAD_LETTER`)."""

    fingerprint: str
    succeeded: int
    failed: int
    closed_by: str = CLOSED_BY_WORKER


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
    # Given up on before its chunks were all queued: whatever chunk still arrives is skipped.
    aborted: bool = False
    failure_reason: str | None = None
    # Who made the job: `api`, `producer`, or None for a job recorded before origins were kept.
    origin: str | None = None
    # The key an API job's chunk messages are signed with; only `start` fills it in.
    signing_key: str | None = field(default=None, repr=False)
    # Who made the job through the API (`vectorizer.api.ownership`); None for a job an outside
    # producer started on the queue. Stored, never reported.
    owner: str | None = None
    # Where the notifier POSTs the job's end (`jobs.callbacks`). Stored, never reported.
    callback_url: str | None = field(default=None, repr=False)
    # The API had not yet queued all its chunks when this was read (it may have died meanwhile).
    submitting: bool = False
    # What the job's counted chunks asked of HF, and what the content cache and dedupe saved.
    usage: HfUsage = field(default_factory=HfUsage)
    # Where its vectors go: `OUTPUT_FILES` for a file job (shards in the files bucket), else None
    # (the vectors table).
    output: str | None = None

    @property
    def writes_files(self) -> bool:
        """A file job: its chunks' vectors are shards in the files bucket, not vector items."""
        return self.output == OUTPUT_FILES

    @property
    def from_api(self) -> bool:
        """Made by the API: only messages signed with its key may touch it."""
        return self.origin == API_ORIGIN

    @property
    def open_ended(self) -> bool:
        """No chunk count and no total: the job can never know it is complete. Not so a file job:
        its splitter records both when it reaches the end of the file, and until then it is open."""
        return self.chunks is None and self.total is None and not self.writes_files

    @property
    def complete(self) -> bool:
        """True once every chunk (or, without a chunk count, every item of `total`) is counted."""
        if self.chunks is not None:
            return self.chunks_done >= self.chunks
        if self.total is not None:
            return self.succeeded + self.failed >= self.total
        return False


def _n(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value else None


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value else None


def _record(item: dict[str, Any], *, with_signing_key: bool = False) -> JobRecord:
    """A job item as a record; its signing key only when asked for (the worker's check)."""
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
        aborted=bool(item.get("aborted", {}).get("BOOL")),
        failure_reason=_s(item, "failureReason"),
        origin=_s(item, "origin"),
        signing_key=_s(item, "signingKey") if with_signing_key else None,
        owner=_s(item, "owner"),
        callback_url=_s(item, "callbackUrl"),
        submitting=bool(item.get("submitting", {}).get("BOOL")),
        usage=HfUsage(**{name: _n(item, attribute) or 0 for name, attribute in USAGE_ATTRIBUTES.items()}),
        output=_s(item, "output"),
    )


class JobStore:
    def __init__(self, dynamodb_client: Any, table: str, ttl_days: int) -> None:
        self._db = dynamodb_client
        self._table = table
        self._ttl_days = ttl_days

    def create(
        self, job_id: str, *, total: int, chunks: int, model: str, signing_key: str, owner: str | None = None,
        callback_url: str | None = None,
    ) -> None:
        """Record a job the API is about to queue: `queued`, origin `api`, with its signing key, the
        caller that owns it (`vectorizer.api.ownership`) and the URL to call when it ends, if any;
        open and `submitting` until `mark_submitted` says its chunks are all on the queue.

        Refused (ConditionalCheckFailedException) if the id is taken.
        """
        stamp = now_iso()
        self._db.put_item(
            TableName=self._table,
            Item={
                "jobId": {"S": job_id}, "sk": {"S": JOB_SK}, "status": {"S": "queued"},
                "total": {"N": str(total)}, "chunks": {"N": str(chunks)},
                "chunksDone": {"N": "0"}, "succeeded": {"N": "0"}, "failed": {"N": "0"},
                "model": {"S": model}, "createdAt": {"S": stamp}, "updatedAt": {"S": stamp},
                "ttl": {"N": str(expiry(self._ttl_days))},
                "origin": {"S": API_ORIGIN}, "signingKey": {"S": signing_key},
                **({"owner": {"S": owner}} if owner is not None else {}),
                **({"callbackUrl": {"S": callback_url}} if callback_url is not None else {}),
                "openShard": {"S": open_shard(job_id)}, "submitting": {"BOOL": True},
            },
            ConditionExpression="attribute_not_exists(jobId)",
        )

    def mark_submitted(self, job_id: str) -> None:
        """Note that every chunk of the API job `job_id` is on the queue; returns nothing.

        Only an existing job is touched (one closed meanwhile keeps its status).
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
                UpdateExpression="REMOVE submitting",
                ConditionExpression="attribute_exists(jobId)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def mark_failed(self, job_id: str, reason: str) -> None:
        """Give up on a job: `failed` with the reason, and `aborted`, so its queued chunks are skipped."""
        self._db.update_item(
            TableName=self._table,
            Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
            UpdateExpression="SET #s = :failed, updatedAt = :now, failureReason = :why, aborted = :yes "
            "REMOVE openShard, submitting",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":failed": {"S": "failed"}, ":now": {"S": now_iso()}, ":why": {"S": reason[:1000]},
                ":yes": {"BOOL": True},
            },
        )

    def start(self, job_id: str, *, model: str, total: int | None, chunks: int | None) -> JobRecord:
        """Mark the job running, creating it on first sight (a producer wrote straight to the queue).

        Returns the job as it stands, its signing key included: a worker checks an API job's
        message against it, checks the message against the job's own total and chunks, and skips
        the chunk of a job that is `aborted`. A job first seen here is recorded as a producer's.
        """
        stamp = now_iso()
        values: dict[str, Any] = {
            ":running": {"S": "running"}, ":queued": {"S": "queued"}, ":now": {"S": stamp},
            ":zero": {"N": "0"}, ":model": {"S": model}, ":ttl": {"N": str(expiry(self._ttl_days))},
            ":producer": {"S": PRODUCER_ORIGIN}, ":shard": {"S": open_shard(job_id)},
        }
        # Every attribute goes through a placeholder: several (`total`, `ttl`, `status`) are
        # DynamoDB reserved words, and one rule for all is easier to read than a list of exceptions.
        defaults = {"createdAt": ":now", "model": ":model", "ttl": ":ttl", "chunksDone": ":zero",
                    "succeeded": ":zero", "failed": ":zero", "origin": ":producer"}
        if total is not None:
            defaults["total"] = ":total"
            values[":total"] = {"N": str(total)}
        if chunks is not None:
            defaults["chunks"] = ":chunks"
            values[":chunks"] = {"N": str(chunks)}
        names = {"#s": "status", "#updatedAt": "updatedAt"} | {f"#{name}": name for name in defaults}
        sets = ["#updatedAt = :now", "openShard = :shard"] + [
            f"#{name} = if_not_exists(#{name}, {value})" for name, value in defaults.items()
        ]
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
                UpdateExpression="SET #s = :running, " + ", ".join(sets),
                # A finished job stays finished: a late duplicate must not reopen it. (A job
                # without counts keeps the status of what it has seen while more chunks come.)
                ConditionExpression="attribute_not_exists(#s) OR #s IN (:queued, :running)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            job = self._get_item(job_id, with_signing_key=True)
            if job is None:  # gone between the two calls (its TTL): nothing left to skip for
                raise
            return job
        return _record(answer["Attributes"], with_signing_key=True)

    def chunk_fingerprint(self, job_id: str, chunk: int) -> str | None:
        """The fingerprint the chunk was counted with; None if it was not counted yet.

        A marker written before fingerprints were kept reads as "" (counted, items unknown).
        """
        marker = self.chunk_marker(job_id, chunk)
        return None if marker is None else marker.fingerprint

    def chunk_marker(self, job_id: str, chunk: int) -> ChunkMarker | None:
        """Takes a job id and chunk number; returns the chunk's marker, or None if it was not counted yet."""
        answer = self._db.get_item(
            TableName=self._table,
            Key={"jobId": {"S": job_id}, "sk": {"S": chunk_sk(chunk)}},
            ConsistentRead=True,
        )
        if "Item" not in answer:
            return None
        item = answer["Item"]
        return ChunkMarker(
            fingerprint=_s(item, "fingerprint") or "", succeeded=_n(item, "succeeded") or 0,
            failed=_n(item, "failed") or 0, closed_by=_s(item, "closedBy") or CLOSED_BY_WORKER,
        )

    def record_errors(self, job_id: str, errors: list[ItemError]) -> None:
        """Write item errors; keyed by index, so writing them again changes nothing."""
        requests = [
            {"PutRequest": {"Item": {
                "jobId": {"S": job_id}, "sk": {"S": error_sk(e.index)}, "index": {"N": str(e.index)},
                "error": {"S": e.error[:1000]}, "ttl": {"N": str(expiry(self._ttl_days))},
                **({"id": {"S": e.id}} if e.id is not None else {}),
                **({"line": {"N": str(e.line)}} if e.line is not None else {}),
            }}}
            for e in errors
        ]
        batch_write(self._db, self._table, requests)

    def clear_errors(self, job_id: str, indexes: list[int]) -> None:
        """Takes a job id and item indexes; deletes those items' errors (an absent one is no error)."""
        requests = [
            {"DeleteRequest": {"Key": {"jobId": {"S": job_id}, "sk": {"S": error_sk(index)}}}} for index in indexes
        ]
        batch_write(self._db, self._table, requests)

    def count_chunk(
        self, job_id: str, chunk: int, *, fingerprint: str, succeeded: int, failed: int, dimensions: int | None,
        closed_by: str = CLOSED_BY_WORKER, usage: HfUsage | None = None,
    ) -> bool:
        """Add a chunk's counts once. False when the chunk number had been counted already.

        `fingerprint` (`items_fingerprint` of the chunk's indexes), the counts and `closed_by` are
        kept in the marker, so a caller told False can ask `chunk_marker` whether it was this
        chunk or another one. `usage` (what the chunk asked of HF) is added to the job's usage
        counters in the same transaction, so it too is added once.
        """
        marker = self._marker(job_id, chunk, fingerprint, succeeded, failed, closed_by)
        marker["ConditionExpression"] = "attribute_not_exists(sk)"
        update = self._counters_update(job_id, succeeded, failed, dimensions, chunks_done=1, usage=usage)
        return self._transact(marker, update)

    def recount_chunk(
        self, job_id: str, chunk: int, *, seen: ChunkMarker, succeeded: int, failed: int, dimensions: int | None,
        usage: HfUsage | None = None,
    ) -> bool:
        """Count a counted chunk again with new counts (more of its items stored); False if its
        marker no longer holds `seen`'s counts (another run recounted it first). `usage`, what
        this run asked of HF (work the first count did not include), is added in the same transaction.

        The marker is replaced and the job's counters move by the differences in one
        transaction, so the job's items are never counted twice. The chunk's size must not
        change (`succeeded + failed` as in `seen`), so `succeeded + failed` never passes `total`.
        """
        if succeeded + failed != seen.succeeded + seen.failed:
            raise ValueError(
                f"chunk {chunk} of job {job_id} holds {seen.succeeded + seen.failed} items, not {succeeded + failed}"
            )
        marker = self._marker(job_id, chunk, seen.fingerprint, succeeded, failed, CLOSED_BY_WORKER)
        marker["ConditionExpression"] = "succeeded = :seen_s AND failed = :seen_f"
        marker["ExpressionAttributeValues"] = {
            ":seen_s": {"N": str(seen.succeeded)}, ":seen_f": {"N": str(seen.failed)},
        }
        update = self._counters_update(
            job_id, succeeded - seen.succeeded, failed - seen.failed, dimensions, chunks_done=0, usage=usage
        )
        return self._transact(marker, update)

    def _marker(
        self, job_id: str, chunk: int, fingerprint: str, succeeded: int, failed: int, closed_by: str
    ) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Item": {
                "jobId": {"S": job_id}, "sk": {"S": chunk_sk(chunk)}, "succeeded": {"N": str(succeeded)},
                "failed": {"N": str(failed)}, "countedAt": {"S": now_iso()}, "fingerprint": {"S": fingerprint},
                "closedBy": {"S": closed_by}, "ttl": {"N": str(expiry(self._ttl_days))},
            },
        }

    def _counters_update(
        self, job_id: str, succeeded: int, failed: int, dimensions: int | None, *, chunks_done: int,
        usage: HfUsage | None = None,
    ) -> dict[str, Any]:
        # Usage counters are only touched when a chunk asked HF for something: a chunk of failed
        # items (or one closed by the dead-letter queue) leaves them as they are.
        counted = usage is not None and usage != HfUsage()
        added = "".join(f", {attribute} :{attribute}" for attribute in USAGE_ATTRIBUTES.values()) if counted else ""
        usage_values = (
            {f":{attribute}": {"N": str(getattr(usage, name))} for name, attribute in USAGE_ATTRIBUTES.items()}
            if counted else {}
        )
        return {
            "TableName": self._table,
            "Key": {"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
            "UpdateExpression": f"ADD succeeded :s, failed :f, chunksDone :done{added} SET updatedAt = :now"
            + (", dimensions = if_not_exists(dimensions, :d)" if dimensions else ""),
            "ExpressionAttributeValues": {
                ":s": {"N": str(succeeded)}, ":f": {"N": str(failed)}, ":done": {"N": str(chunks_done)},
                ":now": {"S": now_iso()}, **({":d": {"N": str(dimensions)}} if dimensions else {}), **usage_values,
            },
        }

    def _transact(self, marker: dict[str, Any], update: dict[str, Any]) -> bool:
        """Write the marker (under its condition) and the counters together; False if the condition failed."""
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

    def record_split(self, job_id: str, *, total: int, chunks: int) -> bool:
        """Give a file job the `total` and `chunks` its splitter counted at the end of its file;
        returns True if this call wrote them.

        Once only: the write holds if the job exists, is open and has no chunk count yet (a
        splitter re-run on a redelivery is told False). The caller then closes the job with
        `finish_if_complete`, in case every chunk was counted before the count was known.
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
                UpdateExpression="SET #total = :total, #chunks = :chunks, updatedAt = :now",
                ConditionExpression="attribute_exists(jobId) AND attribute_not_exists(#chunks) AND #s IN (:q, :r)",
                ExpressionAttributeNames={"#total": "total", "#chunks": "chunks", "#s": "status"},
                ExpressionAttributeValues={
                    ":total": {"N": str(total)}, ":chunks": {"N": str(chunks)}, ":now": {"S": now_iso()},
                    ":q": {"S": "queued"}, ":r": {"S": "running"},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def finish_if_complete(self, job_id: str) -> str | None:
        """Close a complete job, or restate an open-ended one; returns the status it wrote, if any.

        A job with a chunk count or a total closes once, when complete. A job with neither gets
        the status of its counters after every chunk; the write only holds if the counters are
        still the ones read, so a worker that read before another chunk was counted cannot put
        back an older status (the worker that counted it writes the newer one). A closed job
        whose counters moved since (a chunk recounted: `partial` may become `succeeded`) is
        restated the same way.
        """
        job = self._get_item(job_id)
        if job is None or job.aborted:
            return None
        names = {"#s": "status"}
        values: dict[str, Any] = {":now": {"S": now_iso()}}
        restated = job.complete and job.status in FINAL_STATUSES
        if restated and job.status == final_status(job.succeeded, job.failed):
            return None
        if job.open_ended or restated:
            condition = "succeeded = :seen_s AND failed = :seen_f AND (attribute_not_exists(aborted) OR aborted = :no)"
            values |= {":seen_s": {"N": str(job.succeeded)}, ":seen_f": {"N": str(job.failed)}, ":no": {"BOOL": False}}
        elif job.status in FINAL_STATUSES or not job.complete:
            return None
        else:
            condition = "#s IN (:queued, :running)"
            values |= {":queued": {"S": "queued"}, ":running": {"S": "running"}}
        status = final_status(job.succeeded, job.failed)
        if job.open_ended and job.status == status:
            return status  # already says so (a duplicate, or a chunk that changed nothing)
        values[":final"] = {"S": status}
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
                UpdateExpression="SET #s = :final, updatedAt = :now REMOVE openShard",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return status

    def open_jobs_idle_since(self, cutoff: str) -> list[JobRecord]:
        """Takes an `now_iso()` stamp; returns every open job whose last progress (`updatedAt`) is
        older, read from the sparse open-jobs index (one query per shard, never a scan).

        The records carry the counters, `status`, `submitting`, `origin` and timestamps (the
        index projects those only: no signing key, no owner).
        """
        found: list[JobRecord] = []
        for shard in range(OPEN_SHARDS):
            query: dict[str, Any] = {
                "TableName": self._table, "IndexName": OPEN_JOBS_INDEX,
                "KeyConditionExpression": "openShard = :shard AND updatedAt < :cutoff",
                "ExpressionAttributeValues": {":shard": {"S": str(shard)}, ":cutoff": {"S": cutoff}},
            }
            while True:
                answer = self._db.query(**query)
                found.extend(_record(item) for item in answer.get("Items", []))
                if "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return found

    def close_stalled(self, job_id: str, *, seen_updated_at: str, status: str, missing: int, reason: str) -> bool:
        """Close a stalled open job: `status`, `missing` items added to `failed`, `reason` as its
        `failureReason`, `aborted` (a chunk arriving later is skipped, so the counters never pass
        the total) and out of the open-jobs index. Returns False, writing nothing, when the job
        moved since it was read (`updatedAt` is no longer `seen_updated_at`: a chunk counted
        meanwhile wins) or is closed already.
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
                UpdateExpression="SET #s = :final, failureReason = :why, aborted = :yes, updatedAt = :now "
                "ADD failed :missing REMOVE openShard, submitting",
                ConditionExpression="updatedAt = :seen AND #s IN (:queued, :running)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":final": {"S": status}, ":why": {"S": reason[:1000]}, ":yes": {"BOOL": True},
                    ":now": {"S": now_iso()}, ":missing": {"N": str(missing)}, ":seen": {"S": seen_updated_at},
                    ":queued": {"S": "queued"}, ":running": {"S": "running"},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _get_item(self, job_id: str, *, with_signing_key: bool = False) -> JobRecord | None:
        answer = self._db.get_item(
            TableName=self._table, Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}}, ConsistentRead=True
        )
        return _record(answer["Item"], with_signing_key=with_signing_key) if "Item" in answer else None

    def get(self, job_id: str, *, max_errors: int) -> JobRecord:
        """Takes a job id and how many item errors to read; returns the job record, or raises `JobNotFoundError` (404).
        """
        job = self._get_item(job_id)
        if job is None:
            raise job_not_found(job_id)
        if job.failed and max_errors:
            job.errors = self._errors(job_id, max_errors)
        return job

    def _errors(self, job_id: str, limit: int) -> list[ItemError]:
        return list(self.item_errors(job_id, limit=limit))

    def item_errors(self, job_id: str, *, limit: int | None = None, consistent: bool = False) -> Iterator[ItemError]:
        """Takes a job id (at most `limit` errors, None for all; `consistent` for a strongly
        consistent read); yields its item errors in index order, a query page at a time, so that
        a job with many failures is never held in memory whole."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "jobId = :job AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":job": {"S": job_id}, ":prefix": {"S": "error#"}},
        }
        if consistent:
            query["ConsistentRead"] = True
        read = 0
        while limit is None or read < limit:
            page = self._db.query(**query, **({} if limit is None else {"Limit": limit - read}))
            for i in page.get("Items", []):
                read += 1
                yield ItemError(index=int(i["index"]["N"]), id=_s(i, "id"), error=i["error"]["S"], line=_n(i, "line"))
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
