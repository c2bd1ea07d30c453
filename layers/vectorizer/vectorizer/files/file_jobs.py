"""A file job's job record, as the API writes it: what `jobs.job_store.JobStore.create` writes for a
body job, less the counts (the splitter records them when the file ends: `JobStore.record_split`)
and with `output = files`, which sends its chunks' vectors to shards in the files bucket.

`uploadBy`, for a job awaiting its upload, is when its presigned PUT expires: the sweeper closes a
job still waiting well after it (`jobs.sweeper`).
"""

from __future__ import annotations

from typing import Any

from vectorizer.jobs.job_store import API_ORIGIN, JOB_SK, OUTPUT_FILES, open_shard
from vectorizer.jobs.timestamps import expiry, now_iso


class FileJobRecords:
    """Creates file jobs' records in the jobs table, through a boto3 DynamoDB client."""

    def __init__(self, dynamodb_client: Any, table: str, ttl_days: int) -> None:
        self._db = dynamodb_client
        self._table = table
        self._ttl_days = ttl_days

    def create(
        self, job_id: str, *, model: str, signing_key: str, owner: str, callback_url: str | None = None,
    ) -> None:
        """Record a new file job: `queued`, origin `api`, output `files`, its signing key, owner and
        callback, open in the open-jobs index; no total or chunk count yet. Returns nothing.

        Refused (ConditionalCheckFailedException) if the id is taken.
        """
        stamp = now_iso()
        item = {
            "jobId": {"S": job_id}, "sk": {"S": JOB_SK}, "status": {"S": "queued"},
            "chunksDone": {"N": "0"}, "succeeded": {"N": "0"}, "failed": {"N": "0"},
            "model": {"S": model}, "createdAt": {"S": stamp}, "updatedAt": {"S": stamp},
            "ttl": {"N": str(expiry(self._ttl_days))}, "origin": {"S": API_ORIGIN},
            "signingKey": {"S": signing_key}, "owner": {"S": owner}, "output": {"S": OUTPUT_FILES},
            "openShard": {"S": open_shard(job_id)},
            **({"callbackUrl": {"S": callback_url}} if callback_url is not None else {}),
        }
        self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(jobId)")
