"""A file job's own state in DynamoDB, beside its job record: the `files.ports.FileJobStatePort`.

In the jobs table (`jobs.job_store`), under the job's `jobId`, with the sort key `sk = "file"`:
where its file is (`bucket`, `key`, `format`), what each chunk message carries (`config`,
`purpose`, `sealedToken`), its `phase` and its split `cursor` (JSON). The phases:
- `awaiting_upload`: the API handed out a presigned PUT to `uploads/{jobId}/input.{format}`;
- `splitting`: the file is there (the upload arrived, or the job names an `s3://` object) and
  the splitter queues its chunks, saving the cursor after each send;
- `split`: every chunk is queued; `total` and `chunks` are on the job record.
Each phase change is conditional on the phase before it, so a duplicate notification or a
redelivered continuation cannot move a job twice.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from vectorizer.config import ModuleConfig, Purpose
from vectorizer.files.cursor import SplitCursor
from vectorizer.files.records import FileFormat
from vectorizer.jobs.job_store import JOB_SK
from vectorizer.jobs.timestamps import expiry, now_iso

FILE_SK = "file"
AWAITING_UPLOAD = "awaiting_upload"
SPLITTING = "splitting"
SPLIT = "split"
Phase = Literal["awaiting_upload", "splitting", "split"]


class FileJobState(BaseModel):
    """A file job's source, message contents, phase and split cursor, as stored."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    bucket: str
    key: str
    file_format: FileFormat
    config: ModuleConfig
    purpose: Purpose = "passage"
    sealed_token: str | None = None
    phase: Phase
    cursor: SplitCursor = SplitCursor()


class FileJobStore:
    """File job items (`sk = "file"`) of the jobs table, through a boto3 DynamoDB client."""

    def __init__(self, dynamodb_client: Any, table: str, ttl_days: int) -> None:
        self._db = dynamodb_client
        self._table = table
        self._ttl_days = ttl_days

    def create(self, state: FileJobState) -> None:
        """Record a new file job's state (the API does, beside the job record); returns nothing.

        Refused (ConditionalCheckFailedException) if the job already has one.
        """
        item = {
            "jobId": {"S": state.job_id}, "sk": {"S": FILE_SK}, "bucket": {"S": state.bucket},
            "key": {"S": state.key}, "format": {"S": state.file_format},
            "config": {"S": state.config.model_dump_json(by_alias=True, exclude_none=True)},
            "purpose": {"S": state.purpose}, "phase": {"S": state.phase},
            "cursor": {"S": state.cursor.model_dump_json()}, "updatedAt": {"S": now_iso()},
            "ttl": {"N": str(expiry(self._ttl_days))},
        }
        if state.sealed_token is not None:
            item["sealedToken"] = {"S": state.sealed_token}
        self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(jobId)")

    def load(self, job_id: str) -> FileJobState | None:
        """The file job's state (read consistently), or None when `job_id` is no file job."""
        answer = self._db.get_item(
            TableName=self._table, Key={"jobId": {"S": job_id}, "sk": {"S": FILE_SK}}, ConsistentRead=True)
        item = answer.get("Item")
        if item is None:
            return None
        return FileJobState(
            job_id=job_id, bucket=item["bucket"]["S"], key=item["key"]["S"], file_format=item["format"]["S"],
            config=ModuleConfig.model_validate(json.loads(item["config"]["S"])), purpose=item["purpose"]["S"],
            sealed_token=item.get("sealedToken", {}).get("S"), phase=item["phase"]["S"],
            cursor=SplitCursor.model_validate_json(item["cursor"]["S"]),
        )

    def signing_key(self, job_id: str) -> str | None:
        """The key the job's chunk messages are signed with, read from its job record (None without one)."""
        answer = self._db.get_item(
            TableName=self._table, Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}}, ConsistentRead=True,
            ProjectionExpression="signingKey",
        )
        return answer.get("Item", {}).get("signingKey", {}).get("S")

    def save_cursor(self, job_id: str, cursor: SplitCursor) -> None:
        """Keep how far the split has gone (after each send); only while the job is `splitting`."""
        self._move(job_id, SPLITTING, SPLITTING, cursor=cursor)

    def begin_split(self, job_id: str) -> bool:
        """`awaiting_upload` -> `splitting` (its upload arrived); returns False if it was not awaiting one."""
        return self._move(job_id, AWAITING_UPLOAD, SPLITTING)

    def end_split(self, job_id: str) -> bool:
        """`splitting` -> `split` (every chunk queued); returns False if it was not splitting."""
        return self._move(job_id, SPLITTING, SPLIT)

    def _move(self, job_id: str, seen: Phase, phase: Phase, *, cursor: SplitCursor | None = None) -> bool:
        sets = "#phase = :phase, updatedAt = :now" + (", #cursor = :cursor" if cursor is not None else "")
        values: dict[str, Any] = {":phase": {"S": phase}, ":seen": {"S": seen}, ":now": {"S": now_iso()}}
        names = {"#phase": "phase"}
        if cursor is not None:
            values[":cursor"] = {"S": cursor.model_dump_json()}
            names["#cursor"] = "cursor"
        try:
            self._db.update_item(
                TableName=self._table, Key={"jobId": {"S": job_id}, "sk": {"S": FILE_SK}},
                UpdateExpression="SET " + sets, ConditionExpression="#phase = :seen",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True
