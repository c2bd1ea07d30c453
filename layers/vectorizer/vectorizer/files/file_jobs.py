"""A file job's records as the API writes and reads them.

`FileJobRecords`: a file job's job record: what `jobs.job_store.JobStore.create` writes for a
body job, less the counts (the splitter records them when the file ends: `JobStore.record_split`)
and with `output = files`, which sends its chunks' vectors to shards in the files bucket.

Such a record has no `total` until its file is split: the sweeper closes one still `queued` without
it well after its upload link expired (`jobs.sweeper`: no file was uploaded).

`FileJobManifests`: an ended file job's manifest and failures file, written by the notifier.

`FileJobOutputs`: what `GET /jobs/{id}` reports of a file job (its input, its output links).
"""

from __future__ import annotations

from typing import Any

from vectorizer.files.file_job_store import AWAITING_UPLOAD, FileJobStore
from vectorizer.files.layout import manifest_key
from vectorizer.files.manifest import FailedItem, FileJobSummary, Manifest, output_links, write_manifest
from vectorizer.files.ports import ObjectStorePort
from vectorizer.jobs.job_store import API_ORIGIN, JOB_SK, OUTPUT_FILES, JobRecord, JobStore, open_shard
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


class FileJobOutputs:
    """What `GET /jobs/{id}` shows of a file job, as plain JSON-ready dicts (the API room may not
    import this one): its input file, and links to its output once the manifest is written."""

    def __init__(self, objects: ObjectStorePort, states: FileJobStore, bucket: str, expires: int) -> None:
        self._objects = objects
        self._states = states
        self._bucket = bucket
        self._expires = expires

    def source(self, job_id: str) -> dict[str, str] | None:
        """Takes a job id; returns `{"format", "uri"}` of its input file, or None for no file job."""
        state = self._states.load(job_id)
        if state is None:
            return None
        return {"format": state.file_format, "uri": f"s3://{state.bucket}/{state.key}"}

    def links(self, job_id: str) -> dict[str, Any] | None:
        """Takes a job id; returns presigned GET links (OUTPUT_URL_SECONDS) to its manifest, failures
        and every shard (`files.manifest.OutputLinks`, by alias), or None before the manifest exists."""
        body = self._objects.get(self._bucket, manifest_key(job_id))
        if body is None:
            return None
        manifest = Manifest.model_validate_json(body)
        return output_links(self._objects, self._bucket, manifest, self._expires).model_dump(mode="json")


class FileJobManifests:
    """Writes an ended file job's `failed.jsonl` and `manifest.json` (the notifier does, before the callback)."""

    def __init__(self, objects: ObjectStorePort, states: FileJobStore, jobs: JobStore, bucket: str) -> None:
        self._objects = objects
        self._states = states
        self._jobs = jobs
        self._bucket = bucket

    def write(self, job: JobRecord) -> Manifest | None:
        """Takes an ended job's record; returns the manifest written for a file job, None for any other.

        Idempotent: the manifest holds nothing but the ended job's counts and its shards, and the
        failures are in index order, so a retried event rewrites the very same bytes.
        """
        if not job.writes_files:
            return None
        state = self._states.load(job.job_id)
        source = f"s3://{state.bucket}/{state.key}" if state is not None else ""
        summary = FileJobSummary(
            job_id=job.job_id, status=job.status, model=job.model or "", dimensions=job.dimensions, source=source,
            total=job.total if job.total is not None else job.succeeded + job.failed,
            succeeded=job.succeeded, failed=job.failed,
        )
        # Read strongly: the notifier runs right after the job's last chunk recorded its errors.
        failures = (FailedItem(index=e.index, line=e.line, id=e.id, error=e.error)
                    for e in self._jobs.item_errors(job.job_id, consistent=True))
        return write_manifest(self._objects, self._bucket, summary, failures)


def awaits_upload(states: FileJobStore, job_id: str) -> bool:
    """Takes the file job states and a job id; returns True while that file job awaits its upload."""
    state = states.load(job_id)
    return state is not None and state.phase == AWAITING_UPLOAD
