"""Submitting a file job (`files.submit`) on in-memory ports, and paging a file job's output links.

What is recorded, in which phase, what goes to the split queue and what the caller is told, for
each way in; and that nothing at all is recorded when the input is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from vectorizer.api.job_reports import paged_output, shards_from
from vectorizer.config import ModuleConfig
from vectorizer.errors import VectorizerError
from vectorizer.files.file_job_store import FileJobState
from vectorizer.files.objects import ObjectInfo
from vectorizer.files.submit import FileJobAccepted, UploadLink, input_location, submit_file_job
from vectorizer.settings import Settings

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
NOW = datetime(2026, 11, 30, 18, 0, 0, tzinfo=UTC)


class Sealer:
    def seal(self, token: str, job_id: str) -> str:
        return f"sealed({len(token)} chars for {job_id})"

    def unseal(self, sealed: str, job_id: str) -> str:
        raise AssertionError("submitting never unseals")


class Records:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create(self, job_id: str, **fields: Any) -> None:
        self.created.append({"job_id": job_id, **fields})


class States:
    def __init__(self) -> None:
        self.created: list[FileJobState] = []

    def create(self, state: FileJobState) -> None:
        self.created.append(state)


class Objects:
    def __init__(self, existing: set[tuple[str, str]]) -> None:
        self.existing = existing

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        if key.startswith("forbidden/"):  # S3's HEAD where the reader may not list: a bare 403
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")
        return ObjectInfo(size=10, etag='"e"') if (bucket, key) in self.existing else None

    def presigned_put(self, bucket: str, key: str, expires: int, *, content_type: str | None = None) -> str:
        return f"https://{bucket}.s3/{key}?expires={expires}"


class SplitQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def continue_later(self, job_id: str) -> None:
        self.sent.append(job_id)


class Ports:
    def __init__(self, *, existing: set[tuple[str, str]] = frozenset(), input_buckets: str = "") -> None:
        self.settings = Settings.model_validate({"FILES_BUCKET": "files-bucket", "INPUT_BUCKETS": input_buckets,
                                                 "UPLOAD_URL_SECONDS": "600"})
        self.sealer = Sealer()
        self.file_records = Records()
        self.file_jobs = States()
        self.objects = Objects(set(existing))
        self.split_queue = SplitQueue()


def submit(ports: Ports, *, uri: str | None = None, own: bool = False, file_format: str = "jsonl") -> FileJobAccepted:
    return submit_file_job(
        ports, config=ModuleConfig(model=MODEL), purpose="passage", file_format=file_format, uri=uri,
        token="hf_token_of_the_caller" if own else "hf_default", token_is_callers=own, model=MODEL,
        owner="key-a", callback_url="https://hooks.example/end", now=NOW,
    )


def test_without_a_uri_the_job_awaits_its_upload_behind_a_link_to_its_own_key() -> None:
    ports = Ports()
    accepted = submit(ports, file_format="csv")
    job_id = accepted.job_id
    assert accepted == FileJobAccepted(job_id=job_id, status="awaiting_upload", upload=UploadLink(
        url=f"https://files-bucket.s3/uploads/{job_id}/input.csv?expires=600", expires_at="2026-11-30T18:10:00Z"))
    [record] = ports.file_records.created
    assert {k: v for k, v in record.items() if k != "signing_key"} == {
        "job_id": job_id, "model": MODEL, "owner": "key-a", "callback_url": "https://hooks.example/end"}
    assert len(record["signing_key"]) == 64
    assert ports.file_jobs.created == [FileJobState(
        job_id=job_id, bucket="files-bucket", key=f"uploads/{job_id}/input.csv", file_format="csv",
        config=ModuleConfig(model=MODEL), purpose="passage", sealed_token=None, phase="awaiting_upload")]
    assert ports.split_queue.sent == []


def test_with_an_existing_uri_the_job_is_splitting_and_sent_to_the_split_queue() -> None:
    ports = Ports(existing={("files-bucket", "in/a.jsonl")})
    accepted = submit(ports, uri="s3://files-bucket/in/a.jsonl", own=True)
    assert accepted == FileJobAccepted(job_id=accepted.job_id, status="queued")
    [state] = ports.file_jobs.created
    assert (state.bucket, state.key, state.phase, state.sealed_token) == (
        "files-bucket", "in/a.jsonl", "splitting", f"sealed(22 chars for {accepted.job_id})")
    assert ports.split_queue.sent == [accepted.job_id]


def test_a_bucket_on_input_buckets_is_allowed_and_any_other_refused() -> None:
    settings = Settings.model_validate({"FILES_BUCKET": "files-bucket", "INPUT_BUCKETS": "lake, exports"})
    assert input_location("s3://exports/2026/a.csv", settings) == ("exports", "2026/a.csv")
    with pytest.raises(VectorizerError) as refused:
        input_location("s3://elsewhere/a.csv", settings)
    assert (refused.value.status, refused.value.code) == (403, "input_not_allowed")


@pytest.mark.parametrize(("uri", "status", "code"), [
    ("s3://elsewhere/a.jsonl", 403, "input_not_allowed"),
    ("s3://files-bucket/missing.jsonl", 400, "input_not_found"),
    ("s3://files-bucket/forbidden/a.jsonl", 400, "input_not_found"),
    ("files-bucket/a.jsonl", 400, "invalid_s3_uri"),
])
def test_a_refused_input_records_nothing_and_queues_nothing(uri: str, status: int, code: str) -> None:
    ports = Ports()
    with pytest.raises(VectorizerError) as refused:
        submit(ports, uri=uri)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert (ports.file_records.created, ports.file_jobs.created, ports.split_queue.sent) == ([], [], [])


def links(chunks: int) -> dict[str, Any]:
    return {"expiresIn": 3600, "manifest": "https://m", "failures": "https://f", "shards": [
        {"chunk": c, "vectors": f"https://v{c}" + "x" * 500, "matrix": f"https://n{c}" + "x" * 500,
         "ids": f"https://i{c}" + "x" * 500} for c in range(chunks)]}


def test_shard_links_are_paged_within_the_room_given_and_go_on_from_the_token() -> None:
    first = paged_output(links(10), 0, 4000)
    assert [shard.chunk for shard in first.shards] == [0, 1]
    assert first.next_token == "2"
    second = paged_output(links(10), shards_from(first.next_token), 4000)
    assert [shard.chunk for shard in second.shards] == [2, 3]
    last = paged_output(links(10), 8, 100_000)
    assert ([shard.chunk for shard in last.shards], last.next_token) == ([8, 9], None)


def test_a_page_holds_one_shard_even_in_too_little_room_so_a_reader_always_moves_on() -> None:
    page = paged_output(links(3), 1, 10)
    assert ([shard.chunk for shard in page.shards], page.next_token) == ([1], "2")


def test_a_next_token_that_is_not_a_chunk_number_is_a_400() -> None:
    with pytest.raises(VectorizerError) as refused:
        shards_from("abc")
    assert (refused.value.status, refused.value.code) == (400, "invalid_next_token")
