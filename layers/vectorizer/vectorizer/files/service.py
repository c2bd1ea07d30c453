"""File job splitting, one invocation's worth at a time: an upload arrived, or a job to go on with.

`split_upload` starts the job an uploaded object belongs to (`uploads/{jobId}/input.{format}`
in the files bucket) if that job awaits its upload; `continue_split` runs `files.splitter.split_step`
for a job that is `splitting` until the file ends or the deadline. Not done: `{"jobId"}` goes
back to the split queue and the next invocation goes on from the saved cursor. Done: the job
record gets its `total` and `chunks` (once: `JobStore.record_split`), the file job becomes
`split`, and the job is closed (and its end announced) if its workers had already counted every
chunk. A file no retry can read (no such object, no access, a CSV without a text column) fails
the job with the reason. Anything else raises, so the message is delivered again; a re-run
re-sends the very chunks already sent from an older cursor, which the worker counts once.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from vectorizer.errors import VectorizerError
from vectorizer.files.file_job_store import AWAITING_UPLOAD, SPLITTING, FileJobStore
from vectorizer.files.ports import ObjectReaderPort
from vectorizer.files.splitter import FileSplitJob, SplitLimits, split_step
from vectorizer.jobs.job_store import JobStore
from vectorizer.jobs.notifications import notify_if_ended
from vectorizer.jobs.ports import WorkQueuePort
from vectorizer.settings import Settings

logger = logging.getLogger(__name__)

# uploads/{jobId}/input.{jsonl|csv}: the only keys the API presigns.
UPLOAD_KEY = re.compile(r"^uploads/(?P<job_id>[^/]+)/input\.(?P<format>jsonl|csv)$")
# S3 errors that no retry can fix: the job fails with them.
UNREADABLE_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "AccessDenied", "404", "403"})


class SplitQueue:
    """The split queue, as the splitter uses it: `{"jobId"}` sent to go on with a job."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def continue_later(self, job_id: str) -> None:
        """Queue `{"jobId": job_id}`, so that an invocation goes on with the job's splitting."""
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps({"jobId": job_id}))


class SplitQueuePort(Protocol):
    """Where a splitting that ran out of time asks to be continued (`SplitQueue`)."""

    def continue_later(self, job_id: str) -> None: ...


class FileJobDependencies(Protocol):
    """What splitting needs (`services.Services` holds it all)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def jobs(self) -> JobStore: ...

    @property
    def queue(self) -> WorkQueuePort: ...

    @property
    def events(self) -> Any: ...

    @property
    def objects(self) -> ObjectReaderPort: ...

    @property
    def file_jobs(self) -> FileJobStore: ...

    @property
    def split_queue(self) -> SplitQueuePort: ...


class SplitOutcome(BaseModel):
    """What one call did: `ignored` (with why), `continued` (queued to go on), `split` (every chunk
    queued: `total` items in `chunks` chunks) or `failed` (the file cannot be read: why)."""

    model_config = ConfigDict(frozen=True)

    job_id: str | None
    outcome: Literal["ignored", "continued", "split", "failed"]
    reason: str | None = None
    total: int | None = None
    chunks: int | None = None


def job_of_upload(key: str) -> str | None:
    """Takes an object key; returns the job id of `uploads/{jobId}/input.{jsonl|csv}`, else None."""
    found = UPLOAD_KEY.match(key)
    return found.group("job_id") if found else None


def _ignored(job_id: str | None, reason: str) -> SplitOutcome:
    logger.warning("split request ignored: %s", reason, extra={"job_id": job_id})
    return SplitOutcome(job_id=job_id, outcome="ignored", reason=reason)


def split_upload(services: FileJobDependencies, bucket: str, key: str, deadline: float) -> SplitOutcome:
    """Start splitting the job an uploaded object belongs to, then go on as `continue_split`.

    Takes the dependencies, the object's bucket and (decoded) key, and a `time.monotonic()`
    deadline. The object must be the upload the job awaits (its key, in the files bucket, the
    job `awaiting_upload`), else nothing happens: returns `ignored` with why.
    """
    job_id = job_of_upload(key)
    if job_id is None or bucket != services.settings.files_bucket:
        return _ignored(job_id, f"s3://{bucket}/{key} is not an upload of the files bucket")
    state = services.file_jobs.load(job_id)
    if state is None:
        return _ignored(job_id, "no file job awaits this upload")
    if (state.bucket, state.key) != (bucket, key):
        return _ignored(job_id, f"the job awaits s3://{state.bucket}/{state.key}, not this object")
    if state.phase != AWAITING_UPLOAD or not services.file_jobs.begin_split(job_id):
        return _ignored(job_id, f"the job is {state.phase}, not awaiting its upload")
    return continue_split(services, job_id, deadline)


def continue_split(services: FileJobDependencies, job_id: str, deadline: float) -> SplitOutcome:
    """Split the job's file from its saved cursor until it ends or `deadline` (`time.monotonic()`).

    Returns `continued` (the rest is queued on the split queue), `split` with the job's total
    and chunk count, `failed` (the file cannot be read; the job is failed with why) or `ignored`
    (no such file job, or it is not `splitting`). Raises on a passing failure (S3, SQS or
    DynamoDB): a re-run goes on from the last saved cursor.
    """
    state = services.file_jobs.load(job_id)
    if state is None or state.phase != SPLITTING:
        return _ignored(job_id, "no such file job" if state is None else f"the job is {state.phase}, not splitting")
    signing_key = services.file_jobs.signing_key(job_id)
    if signing_key is None:
        return _ignored(job_id, "the job has no job record to sign its chunks with")
    settings = services.settings
    job = FileSplitJob(
        job_id=job_id, bucket=state.bucket, key=state.key, file_format=state.file_format, config=state.config,
        purpose=state.purpose, sealed_token=state.sealed_token, signing_key=signing_key,
    )
    limits = SplitLimits(chunk_size=settings.file_chunk_size, max_message_bytes=settings.max_message_bytes,
                         max_text_chars=settings.max_text_chars)
    try:
        result = split_step(job, state.cursor, reader=services.objects, queue=services.queue,
                            state=services.file_jobs, limits=limits, deadline=deadline)
    except VectorizerError as error:
        if error.status >= 500:
            raise
        return _fail(services, job_id, error.message)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in UNREADABLE_OBJECT_CODES:
            raise
        return _fail(services, job_id, f"s3://{state.bucket}/{state.key} cannot be read ({code})")
    if not result.done:
        services.split_queue.continue_later(job_id)
        return SplitOutcome(job_id=job_id, outcome="continued")
    total, chunks = result.total or 0, result.chunks or 0
    services.jobs.record_split(job_id, total=total, chunks=chunks)
    services.file_jobs.end_split(job_id)
    _close_if_complete(services, job_id)
    return SplitOutcome(job_id=job_id, outcome="split", total=total, chunks=chunks)


def _fail(services: FileJobDependencies, job_id: str, reason: str) -> SplitOutcome:
    logger.error("file job failed: %s", reason, extra={"job_id": job_id})
    services.jobs.mark_failed(job_id, reason)
    services.file_jobs.end_split(job_id)
    notify_if_ended(services, job_id)
    return SplitOutcome(job_id=job_id, outcome="failed", reason=reason)


def _close_if_complete(services: FileJobDependencies, job_id: str) -> None:
    # Every chunk may have been counted before the count was known (a small file, fast workers).
    if services.jobs.finish_if_complete(job_id) is not None:
        notify_if_ended(services, job_id)
