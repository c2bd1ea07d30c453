"""Submitting a file job (`POST /jobs`): record it, then hand out an upload link or start its split.

Without a URI the caller gets a presigned PUT to `uploads/{jobId}/input.{format}` in the files
bucket, valid UPLOAD_URL_SECONDS; the upload's S3 notification starts the split
(`files.service.split_upload`). With an `s3://` URI the object must be in the files bucket or one
of INPUT_BUCKETS (else 403 `input_not_allowed`) and exist (else 400 `input_not_found`); the job
then starts `splitting` at once, `{"jobId"}` sent to the split queue. A caller's own token is
sealed under the job id and kept with the file job's state, never plain; the default token is
never stored (the worker picks it up where it may go).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from vectorizer.config import ModuleConfig, Purpose
from vectorizer.errors import VectorizerError
from vectorizer.files.file_job_store import AWAITING_UPLOAD, SPLITTING, FileJobState
from vectorizer.files.layout import upload_key
from vectorizer.files.objects import ObjectInfo, parse_s3_uri
from vectorizer.files.records import FileFormat
from vectorizer.jobs.ports import TokenSealerPort
from vectorizer.jobs.service import new_job_id, new_signing_key
from vectorizer.settings import Settings


class UploadLink(BaseModel):
    """Where to PUT the job's file, until when (ISO 8601, UTC)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    url: str
    method: Literal["PUT"] = "PUT"
    expires_at: str = Field(alias="expiresAt")


class FileJobAccepted(BaseModel):
    """`POST /jobs`'s 202: the job, `awaiting_upload` with its upload link, or `queued`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    job_id: str = Field(alias="jobId")
    status: Literal["awaiting_upload", "queued"]
    upload: UploadLink | None = None


class FileJobRecordsPort(Protocol):
    """File job records (`files.file_jobs.FileJobRecords`)."""

    def create(
        self, job_id: str, *, model: str, signing_key: str, owner: str, callback_url: str | None = None,
    ) -> None: ...


class FileJobStatesPort(Protocol):
    """File jobs' source and split state (`files.file_job_store.FileJobStore`)."""

    def create(self, state: FileJobState) -> None: ...


class SubmitObjectsPort(Protocol):
    """What submitting asks of S3 (`files.objects.S3Objects`)."""

    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    def presigned_put(self, bucket: str, key: str, expires: int, *, content_type: str | None = None) -> str: ...


class SplitStarterPort(Protocol):
    """The split queue (`files.service.SplitQueue`)."""

    def continue_later(self, job_id: str) -> None: ...


class SubmitDependencies(Protocol):
    """Everything `submit_file_job` uses; `services.Services` is one."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sealer(self) -> TokenSealerPort: ...

    @property
    def file_records(self) -> FileJobRecordsPort: ...

    @property
    def file_jobs(self) -> FileJobStatesPort: ...

    @property
    def objects(self) -> SubmitObjectsPort: ...

    @property
    def split_queue(self) -> SplitStarterPort: ...


def input_location(uri: str, settings: Settings) -> tuple[str, str]:
    """Takes an `s3://bucket/key` URI; returns (bucket, key) if the service may read it.

    Raises 400 `invalid_s3_uri` for a malformed URI, 403 `input_not_allowed` for a bucket that is
    neither the files bucket nor one of INPUT_BUCKETS.
    """
    location = parse_s3_uri(uri)
    allowed = {settings.files_bucket, *settings.input_buckets} - {""}
    if location.bucket not in allowed:
        raise VectorizerError(
            f"bucket {location.bucket!r} is not one this service reads: use the upload link (omit 'uri') or a "
            "bucket on INPUT_BUCKETS", status=403, code="input_not_allowed",
        )
    return location.bucket, location.key


def _readable(objects: SubmitObjectsPort, bucket: str, key: str) -> bool:
    """Whether HEAD finds the object; S3 answers 403 rather than 404 where the service may not list
    the bucket, so a refusal reads as "no such object" too (never a 500)."""
    try:
        return objects.head(bucket, key) is not None
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in ("403", "AccessDenied", "Forbidden"):
            return False
        raise


def submit_file_job(
    services: SubmitDependencies, *, config: ModuleConfig, purpose: Purpose, file_format: FileFormat,
    uri: str | None, token: str, token_is_callers: bool, model: str, owner: str, callback_url: str | None,
    now: datetime | None = None,
) -> FileJobAccepted:
    """Record a file job for `owner` and return its 202 answer.

    Takes the module config and purpose every chunk carries, the file's format, its `s3://` URI
    (None: the caller uploads it), the token chosen for the call (`token_is_callers`: the
    caller's own, sealed and kept; else the default, not kept), the model, the owner, the
    callback URL (already allowed) and the time (default: now). Raises 400 `invalid_s3_uri`,
    403 `input_not_allowed` or 400 `input_not_found` before anything is recorded.
    """
    settings = services.settings
    source = input_location(uri, settings) if uri is not None else None
    if source is not None and not _readable(services.objects, *source):
        raise VectorizerError(f"there is no object at {uri[:1100]!r} (or it cannot be read)", code="input_not_found")
    job_id = new_job_id()
    bucket, key = source or (settings.files_bucket, upload_key(job_id, file_format))
    sealed = services.sealer.seal(token, job_id) if token_is_callers else None
    services.file_records.create(
        job_id, model=model, signing_key=new_signing_key(), owner=owner, callback_url=callback_url,
    )
    services.file_jobs.create(FileJobState(
        job_id=job_id, bucket=bucket, key=key, file_format=file_format, config=config, purpose=purpose,
        sealed_token=sealed, phase=SPLITTING if source is not None else AWAITING_UPLOAD,
    ))
    if source is not None:
        services.split_queue.continue_later(job_id)
        return FileJobAccepted(job_id=job_id, status="queued")
    expires = settings.upload_url_seconds
    # No content type is signed in: a PUT with any (or none) is taken, the format is the job's.
    url = services.objects.presigned_put(bucket, key, expires)
    until = (now or datetime.now(UTC)) + timedelta(seconds=expires)
    return FileJobAccepted(job_id=job_id, status="awaiting_upload", upload=UploadLink(
        url=url, expires_at=until.isoformat(timespec="seconds").replace("+00:00", "Z"),
    ))
