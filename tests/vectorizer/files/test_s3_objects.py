"""The S3 adapter: streamed reads from an offset, whole objects, listings, signed links, URIs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from vectorizer.errors import VectorizerError
from vectorizer.files.objects import ObjectInfo, S3Location, S3Objects, parse_s3_uri


def test_a_read_from_an_offset_streams_the_rest_in_blocks(objects: S3Objects, bucket: str) -> None:
    objects.put(bucket, "in.jsonl", b"0123456789", content_type="application/x-ndjson")
    assert list(objects.read_from(bucket, "in.jsonl", 3)) == [b"3456", b"789"]
    assert list(objects.read_from(bucket, "in.jsonl", 0)) == [b"0123", b"4567", b"89"]


def test_a_read_at_the_end_or_of_an_empty_object_gives_no_blocks(objects: S3Objects, bucket: str) -> None:
    objects.put(bucket, "in.jsonl", b"abc", content_type="text/plain")
    objects.put(bucket, "empty.jsonl", b"", content_type="text/plain")
    assert list(objects.read_from(bucket, "in.jsonl", 3)) == []
    assert list(objects.read_from(bucket, "empty.jsonl", 0)) == []


def test_whole_objects_go_in_and_out_and_a_missing_one_is_none(objects: S3Objects, bucket: str) -> None:
    objects.put(bucket, "a/b.json", b"{}", content_type="application/json")
    assert objects.get(bucket, "a/b.json") == b"{}"
    assert objects.get(bucket, "a/missing") is None
    info = objects.head(bucket, "a/b.json")
    assert info is not None
    assert (info.size, info.content_type) == (2, "application/json")
    assert isinstance(info, ObjectInfo)
    assert objects.head(bucket, "a/missing") is None


def test_a_listing_gives_every_key_under_the_prefix_across_pages(s3: Any, objects: S3Objects, bucket: str) -> None:
    for n in range(1005):
        s3.put_object(Bucket=bucket, Key=f"jobs/j/shards/part-{n:06d}.jsonl", Body=b"")
    s3.put_object(Bucket=bucket, Key="jobs/other/x", Body=b"")
    keys = list(objects.list(bucket, "jobs/j/"))
    assert keys == [f"jobs/j/shards/part-{n:06d}.jsonl" for n in range(1005)]


def test_presigned_links_name_the_object_and_their_lifetime(objects: S3Objects, bucket: str) -> None:
    get = urlparse(objects.presigned_get(bucket, "jobs/j/manifest.json", 600))
    put = urlparse(objects.presigned_put(bucket, "uploads/j/input.csv", 900, content_type="text/csv"))
    assert get.path.endswith(f"{bucket}/jobs/j/manifest.json") or get.path == "/jobs/j/manifest.json"
    assert parse_qs(get.query).get("X-Amz-Expires") == ["600"]
    assert parse_qs(put.query).get("X-Amz-Expires") == ["900"]
    assert "content-type" in parse_qs(put.query)["X-Amz-SignedHeaders"][0]


def test_an_s3_uri_gives_its_bucket_and_key() -> None:
    location = parse_s3_uri("s3://my-bucket/uploads/j/input.jsonl")
    assert location == S3Location(bucket="my-bucket", key="uploads/j/input.jsonl")


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("https://b/k", "it must start with s3://"),
        ("s3://", "the bucket name is not a valid S3 bucket name"),
        ("s3://Bad_Bucket/k", "the bucket name is not a valid S3 bucket name"),
        ("s3://a..b/k", "the bucket name is not a valid S3 bucket name"),
        ("s3://bucket", "it names no object key after the bucket"),
        ("s3://bucket/", "it names no object key after the bucket"),
        ("s3://bucket/" + "k" * 1025, "the key is longer than 1024 bytes"),
    ],
)
def test_a_bad_s3_uri_is_a_400_saying_what_is_wrong(uri: str, why: str) -> None:
    with pytest.raises(VectorizerError) as caught:
        parse_s3_uri(uri)
    assert (caught.value.status, caught.value.code) == (400, "invalid_s3_uri")
    assert caught.value.message == f"{uri[:200]!r} is not a usable S3 URI: {why}"
