"""S3 through a boto3 client: streamed reads from an offset, whole objects, listings, signed links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from vectorizer.errors import VectorizerError

READ_BLOCK_BYTES = 1024 * 1024
# S3's bucket naming rules (3-63 lower-case letters, digits, dots, hyphens; a letter or digit at each end).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024


class S3Location(BaseModel):
    """A bucket and a key."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str


class ObjectInfo(BaseModel):
    """What HEAD says of an object: its size in bytes, ETag and content type."""

    model_config = ConfigDict(frozen=True)

    size: int
    etag: str
    content_type: str | None = None


def parse_s3_uri(uri: str) -> S3Location:
    """Takes `s3://bucket/key`; returns its bucket and key, or raises a 400 `invalid_s3_uri` saying what is wrong."""

    def refused(why: str) -> VectorizerError:
        return VectorizerError(f"{uri[:200]!r} is not a usable S3 URI: {why}", code="invalid_s3_uri")

    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise refused("it must start with s3://")
    bucket, slash, key = uri[len("s3://"):].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise refused("the bucket name is not a valid S3 bucket name")
    if not slash or not key:
        raise refused("it names no object key after the bucket")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise refused(f"the key is longer than {MAX_KEY_BYTES} bytes")
    return S3Location(bucket=bucket, key=key)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Objects:
    """Objects in S3 through the boto3 client given; `block_bytes` is the size of a streamed read's blocks.

    Give it a client that signs with SigV4 (`Config(signature_version="s3v4")`): its presigned
    links then last the `expires` asked for, up to S3's 7 days.
    """

    def __init__(self, s3_client: Any, block_bytes: int = READ_BLOCK_BYTES) -> None:
        self._s3 = s3_client
        self._block_bytes = block_bytes

    def read_from(self, bucket: str, key: str, offset: int) -> Iterator[bytes]:
        """The object's bytes from `offset` to its end, as blocks (a ranged GET, streamed, never whole).

        An offset at or past the end gives no blocks. Raises botocore's ClientError for a missing object.
        """
        try:
            answer = self._s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-")
        except ClientError as error:
            if _code(error) == "InvalidRange":  # nothing at or after the offset (an empty object too)
                return
            raise
        body = answer["Body"]
        try:
            yield from body.iter_chunks(self._block_bytes)
        finally:
            body.close()

    def put(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None:
        """Write one whole object."""
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def put_file(self, bucket: str, key: str, fileobj: IO[bytes], *, content_type: str) -> None:
        """Write one object from a file of any size (multipart past boto3's threshold), read from its start."""
        fileobj.seek(0)
        self._s3.upload_fileobj(fileobj, bucket, key, ExtraArgs={"ContentType": content_type})

    def get(self, bucket: str, key: str) -> bytes | None:
        """The whole object, or None when there is none."""
        try:
            answer = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(answer["Body"].read())

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's size, ETag and content type, or None when there is none."""
        try:
            answer = self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return ObjectInfo(size=answer["ContentLength"], etag=answer["ETag"], content_type=answer.get("ContentType"))

    def list(self, bucket: str, prefix: str) -> Iterator[str]:
        """The keys under `prefix`, in S3's order (UTF-8 byte order), page after page."""
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield entry["Key"]

    def presigned_get(self, bucket: str, key: str, expires: int) -> str:
        """A URL that downloads the object for `expires` seconds."""
        return str(self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
        ))

    def presigned_put(self, bucket: str, key: str, expires: int, *, content_type: str | None = None) -> str:
        """A URL that uploads the object for `expires` seconds (with that content type, if given)."""
        params = {"Bucket": bucket, "Key": key, **({"ContentType": content_type} if content_type else {})}
        return str(self._s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires))
