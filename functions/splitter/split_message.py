"""What a split queue message asks for: split uploaded objects, continue a job, or nothing.

The split queue carries two shapes: S3's event notification for an object created under
`uploads/` (its keys URL-encoded, as S3 sends them; and the `s3:TestEvent` S3 sends when the
notification is set, to be ignored), and the service's own `{"jobId": "<id>"}`, sent to start
splitting a job whose file is an `s3://` URI or to continue one whose splitter ran out of time.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class UploadedObject(BaseModel):
    """One object an S3 notification names: its bucket and its key, decoded."""

    model_config = ConfigDict(frozen=True)

    bucket: str = Field(min_length=1)
    key: str = Field(min_length=1)


class SplitUploads(BaseModel):
    """Split these objects (each starts its job's splitting)."""

    model_config = ConfigDict(frozen=True)

    objects: tuple[UploadedObject, ...]


class ContinueSplit(BaseModel):
    """Start or continue splitting this job."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    job_id: str = Field(alias="jobId", min_length=1, max_length=128)


class Ignore(BaseModel):
    """Nothing to do, and why (S3's test event, a notification of no created object...)."""

    model_config = ConfigDict(frozen=True)

    reason: str


class UnreadableMessage(ValueError):
    """The body is neither an S3 notification nor `{"jobId"}`: no retry can fix it."""


SplitRequest = SplitUploads | ContinueSplit | Ignore


class _S3Bucket(BaseModel):
    name: str


class _S3Object(BaseModel):
    key: str


class _S3Entity(BaseModel):
    bucket: _S3Bucket
    object: _S3Object


class _S3Record(BaseModel):
    event_name: str = Field("", alias="eventName")
    s3: _S3Entity


class _S3Notification(BaseModel):
    records: list[_S3Record] = Field(alias="Records")


def read_split_message(body: str) -> SplitRequest:
    """Takes a split queue message's body; returns what it asks for.

    Keys come back decoded (S3 sends them form-encoded: a space as `+`). Raises
    `UnreadableMessage` for a body that is neither shape.
    """
    try:
        data = json.loads(body)
    except ValueError as error:
        raise UnreadableMessage(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise UnreadableMessage("not a JSON object")
    if data.get("Event") == "s3:TestEvent":
        return Ignore(reason="S3 test event")
    try:
        if "Records" in data:
            notification = _S3Notification.model_validate(data)
            created = [r for r in notification.records if r.event_name.startswith("ObjectCreated:")]
            if not created:
                return Ignore(reason="no object created in this notification")
            return SplitUploads(objects=tuple(
                UploadedObject(bucket=r.s3.bucket.name, key=unquote_plus(r.s3.object.key)) for r in created))
        return ContinueSplit.model_validate(data)
    except ValidationError as error:
        raise UnreadableMessage(f"neither an S3 notification nor {{\"jobId\"}}: {error.error_count()} error(s), "
                                f"first at {'.'.join(map(str, error.errors()[0]['loc'])) or 'the root'}") from None
