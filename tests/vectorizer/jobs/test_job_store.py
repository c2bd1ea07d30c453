"""Job records on moto DynamoDB, in a table keyed the way template.yaml keys it."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.vectorizer.conftest import JOBS_TABLE
from vectorizer.errors import JobNotFoundError
from vectorizer.jobs.job_store import ItemError, JobStore, chunk_sk, error_sk, final_status, items_fingerprint

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FP = items_fingerprint([0, 1, 2])
KEY = "6b" * 32


@pytest.fixture
def store(dynamodb: Any) -> JobStore:
    return JobStore(dynamodb, JOBS_TABLE, ttl_days=7)


def raw_job(dynamodb: Any, job_id: str) -> dict[str, Any]:
    return dynamodb.get_item(TableName=JOBS_TABLE, Key={"jobId": {"S": job_id}, "sk": {"S": "job"}})["Item"]


def all_keys(dynamodb: Any, job_id: str) -> list[str]:
    answer = dynamodb.query(
        TableName=JOBS_TABLE, KeyConditionExpression="jobId = :j", ExpressionAttributeValues={":j": {"S": job_id}}
    )
    return [item["sk"]["S"] for item in answer["Items"]]


def test_key_helpers_sort_in_number_order() -> None:
    assert chunk_sk(42) == "chunk#000042"
    assert error_sk(1234) == "error#000000001234"
    assert sorted([error_sk(10), error_sk(9), error_sk(100)]) == [error_sk(9), error_sk(10), error_sk(100)]


@pytest.mark.parametrize(
    ("succeeded", "failed", "status"), [(5, 0, "succeeded"), (0, 0, "succeeded"), (4, 1, "partial"), (0, 5, "failed")]
)
def test_final_status(succeeded: int, failed: int, status: str) -> None:
    assert final_status(succeeded, failed) == status


def test_create_and_get(store: JobStore, dynamodb: Any) -> None:
    before = int(time.time())
    store.create("job-1", total=600, chunks=3, model="org/model", signing_key=KEY)
    job = store.get("job-1", max_errors=10)
    assert (job.job_id, job.status, job.total, job.chunks, job.chunks_done) == ("job-1", "queued", 600, 3, 0)
    assert (job.succeeded, job.failed, job.model, job.dimensions, job.errors) == (0, 0, "org/model", None, [])
    assert ISO.match(job.created_at)
    assert job.updated_at == job.created_at
    ttl = int(raw_job(dynamodb, "job-1")["ttl"]["N"])
    assert before + 7 * 86_400 <= ttl <= int(time.time()) + 7 * 86_400


def test_create_twice_is_refused(store: JobStore) -> None:
    store.create("job-1", total=1, chunks=1, model="m", signing_key=KEY)
    with pytest.raises(ClientError) as caught:
        store.create("job-1", total=2, chunks=2, model="m", signing_key=KEY)
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert store.get("job-1", max_errors=0).total == 1


def test_unknown_job_is_404(store: JobStore) -> None:
    with pytest.raises(JobNotFoundError) as caught:
        store.get("nope", max_errors=10)
    error = caught.value
    assert (error.status, error.code, error.message) == (404, "job_not_found", "no job with id 'nope'")


def test_mark_failed(store: JobStore, dynamodb: Any) -> None:
    store.create("job-1", total=1, chunks=1, model="m", signing_key=KEY)
    store.mark_failed("job-1", "the work queue refused 1 chunk message(s): busy" + "!" * 2000)
    assert store.get("job-1", max_errors=0).status == "failed"
    reason = raw_job(dynamodb, "job-1")["failureReason"]["S"]
    assert reason.startswith("the work queue refused 1 chunk message(s): busy")
    assert len(reason) == 1000


def test_mark_failed_aborts_the_job_and_start_reports_it(store: JobStore) -> None:
    store.create("job-1", total=20, chunks=2, model="m", signing_key=KEY)
    assert store.start("job-1", model="m", total=20, chunks=2).aborted is False
    store.mark_failed("job-1", "the work queue could not be reached")
    job = store.get("job-1", max_errors=0)
    assert (job.status, job.aborted, job.failure_reason) == ("failed", True, "the work queue could not be reached")
    # A chunk that made it onto the queue before the failure: start() tells the worker to skip it.
    seen = store.start("job-1", model="m", total=20, chunks=2)
    assert (seen.status, seen.aborted) == ("failed", True)
    assert store.get("job-1", max_errors=0).status == "failed"


# ------------------------------------------------------------------ start


def test_start_marks_a_queued_job_running_and_keeps_its_fields(store: JobStore) -> None:
    store.create("job-1", total=10, chunks=2, model="org/model", signing_key=KEY)
    created = store.get("job-1", max_errors=0).created_at
    seen = store.start("job-1", model="other/model", total=99, chunks=99)
    assert (seen.status, seen.total, seen.chunks, seen.model, seen.aborted) == ("running", 10, 2, "org/model", False)
    job = store.get("job-1", max_errors=0)
    assert (job.status, job.total, job.chunks, job.model, job.created_at) == ("running", 10, 2, "org/model", created)


def test_start_creates_a_job_a_producer_queued_directly(store: JobStore) -> None:
    store.start("ext-1", model="org/model", total=500, chunks=2)
    job = store.get("ext-1", max_errors=0)
    assert (job.status, job.total, job.chunks, job.chunks_done) == ("running", 500, 2, 0)
    assert (job.succeeded, job.failed, job.model) == (0, 0, "org/model")
    assert ISO.match(job.created_at)


def test_start_without_counts_leaves_them_unknown(store: JobStore, dynamodb: Any) -> None:
    store.start("ext-2", model="m", total=None, chunks=None)
    job = store.get("ext-2", max_errors=0)
    assert (job.total, job.chunks) == (None, None)
    item = raw_job(dynamodb, "ext-2")
    assert "total" not in item
    assert "chunks" not in item
    assert "ttl" in item


def test_start_does_not_reopen_a_finished_job(store: JobStore) -> None:
    store.create("job-1", total=1, chunks=1, model="m", signing_key=KEY)
    store.start("job-1", model="m", total=1, chunks=1)
    assert store.count_chunk("job-1", 0, fingerprint=FP, succeeded=1, failed=0, dimensions=3)
    assert store.finish_if_complete("job-1") == "succeeded"
    seen = store.start("job-1", model="m", total=1, chunks=1)  # a late redelivery: no error, no change
    assert (seen.status, seen.aborted) == ("succeeded", False)
    assert store.get("job-1", max_errors=0).status == "succeeded"


def test_an_api_job_keeps_its_origin_and_signing_key_which_only_start_reads_back(
    store: JobStore, dynamodb: Any
) -> None:
    store.create("job-1", total=2, chunks=1, model="m", signing_key=KEY)
    item = raw_job(dynamodb, "job-1")
    assert (item["origin"]["S"], item["signingKey"]["S"]) == ("api", KEY)

    read = store.get("job-1", max_errors=10)
    assert (read.origin, read.from_api, read.signing_key) == ("api", True, None)
    assert KEY not in repr(read)

    started = store.start("job-1", model="m", total=2, chunks=1)
    assert (started.origin, started.signing_key) == ("api", KEY)
    assert KEY not in repr(started)
    assert store.count_chunk("job-1", 0, fingerprint=FP, succeeded=2, failed=0, dimensions=3)
    assert store.finish_if_complete("job-1") == "succeeded"
    # A finished job is read back rather than updated: the key comes with it all the same.
    assert store.start("job-1", model="m", total=2, chunks=1).signing_key == KEY


def test_a_job_first_seen_on_the_queue_is_a_producers_without_a_key(store: JobStore, dynamodb: Any) -> None:
    seen = store.start("ext-1", model="m", total=None, chunks=None)
    assert (seen.origin, seen.from_api, seen.signing_key) == ("producer", False, None)
    assert raw_job(dynamodb, "ext-1")["origin"]["S"] == "producer"
    assert "signingKey" not in raw_job(dynamodb, "ext-1")


# ------------------------------------------------------------------ counting chunks


def test_counting_a_chunk_twice_counts_once(store: JobStore, dynamodb: Any) -> None:
    store.create("job-1", total=300, chunks=2, model="m", signing_key=KEY)
    assert store.chunk_fingerprint("job-1", 0) is None
    assert store.count_chunk("job-1", 0, fingerprint=FP, succeeded=250, failed=6, dimensions=384) is True
    assert store.chunk_fingerprint("job-1", 0) == FP
    assert store.count_chunk("job-1", 0, fingerprint=FP, succeeded=250, failed=6, dimensions=384) is False
    job = store.get("job-1", max_errors=0)
    assert (job.chunks_done, job.succeeded, job.failed, job.dimensions) == (1, 250, 6, 384)
    assert all_keys(dynamodb, "job-1") == ["chunk#000000", "job"]


def test_chunks_add_up_and_dimensions_are_kept_from_the_first(store: JobStore) -> None:
    store.create("job-1", total=5, chunks=3, model="m", signing_key=KEY)
    assert store.count_chunk("job-1", 2, fingerprint=FP, succeeded=2, failed=0, dimensions=8)
    assert store.count_chunk("job-1", 0, fingerprint=FP, succeeded=0, failed=2, dimensions=None)
    assert store.count_chunk("job-1", 1, fingerprint=FP, succeeded=1, failed=0, dimensions=16)
    job = store.get("job-1", max_errors=0)
    assert (job.chunks_done, job.succeeded, job.failed, job.dimensions) == (3, 3, 2, 8)


def test_chunk_marker_records_its_counts(store: JobStore, dynamodb: Any) -> None:
    store.create("job-1", total=5, chunks=1, model="m", signing_key=KEY)
    store.count_chunk("job-1", 7, fingerprint=FP, succeeded=4, failed=1, dimensions=3)
    marker = dynamodb.get_item(TableName=JOBS_TABLE, Key={"jobId": {"S": "job-1"}, "sk": {"S": "chunk#000007"}})["Item"]
    assert (marker["succeeded"]["N"], marker["failed"]["N"], marker["fingerprint"]["S"]) == ("4", "1", FP)
    assert ISO.match(marker["countedAt"]["S"])
    assert "ttl" in marker


def test_chunk_fingerprint_is_per_job(store: JobStore) -> None:
    store.create("job-1", total=1, chunks=1, model="m", signing_key=KEY)
    store.create("job-2", total=1, chunks=1, model="m", signing_key=KEY)
    store.count_chunk("job-1", 0, fingerprint=FP, succeeded=1, failed=0, dimensions=3)
    seen = [store.chunk_fingerprint(job_id, chunk) for job_id, chunk in (("job-1", 0), ("job-2", 0), ("job-1", 1))]
    assert seen == [FP, None, None]


def test_items_fingerprint_is_the_set_of_indexes() -> None:
    assert items_fingerprint([3, 1, 2]) == items_fingerprint([1, 2, 3])
    assert items_fingerprint([1, 2, 3]) != items_fingerprint([1, 2, 4])
    assert items_fingerprint([1, 23]) != items_fingerprint([12, 3])
    assert re.fullmatch(r"[0-9a-f]{64}", items_fingerprint([0]))


def test_the_same_chunk_number_with_other_items_is_not_counted(store: JobStore) -> None:
    store.start("ext-1", model="m", total=None, chunks=None)
    assert store.count_chunk("ext-1", 0, fingerprint=items_fingerprint([0]), succeeded=1, failed=0, dimensions=3)
    other = items_fingerprint([1])
    assert store.count_chunk("ext-1", 0, fingerprint=other, succeeded=1, failed=0, dimensions=3) is False
    assert store.chunk_fingerprint("ext-1", 0) == items_fingerprint([0])
    assert store.get("ext-1", max_errors=0).succeeded == 1


def test_a_marker_written_before_fingerprints_reads_as_empty(store: JobStore, dynamodb: Any) -> None:
    dynamodb.put_item(TableName=JOBS_TABLE, Item={
        "jobId": {"S": "job-1"}, "sk": {"S": chunk_sk(0)}, "succeeded": {"N": "1"}, "failed": {"N": "0"},
    })
    assert store.chunk_fingerprint("job-1", 0) == ""


# ------------------------------------------------------------------ finishing


@pytest.mark.parametrize(
    ("counts", "status"),
    [
        ([(3, 0), (2, 0)], "succeeded"),
        ([(3, 0), (1, 1)], "partial"),
        ([(0, 3), (0, 2)], "failed"),
    ],
)
def test_job_finishes_when_every_chunk_is_counted(store: JobStore, counts: list[tuple[int, int]], status: str) -> None:
    store.create("job-1", total=5, chunks=2, model="m", signing_key=KEY)
    store.start("job-1", model="m", total=5, chunks=2)
    (s0, f0), (s1, f1) = counts
    store.count_chunk("job-1", 0, fingerprint=FP, succeeded=s0, failed=f0, dimensions=3 if s0 else None)
    assert store.finish_if_complete("job-1") is None
    assert store.get("job-1", max_errors=0).status == "running"
    store.count_chunk("job-1", 1, fingerprint=FP, succeeded=s1, failed=f1, dimensions=3 if s1 else None)
    assert store.finish_if_complete("job-1") == status
    job = store.get("job-1", max_errors=0)
    assert job.status == status
    # Closing again is a no-op that reports nothing.
    assert store.finish_if_complete("job-1") is None
    assert store.get("job-1", max_errors=0).status == status


def test_a_redelivered_chunk_does_not_close_the_job_early(store: JobStore) -> None:
    store.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    store.count_chunk("job-1", 0, fingerprint=FP, succeeded=2, failed=0, dimensions=3)
    store.count_chunk("job-1", 0, fingerprint=FP, succeeded=2, failed=0, dimensions=3)
    assert store.finish_if_complete("job-1") is None
    assert store.get("job-1", max_errors=0).chunks_done == 1


def test_finish_of_unknown_or_failed_job_does_nothing(store: JobStore) -> None:
    assert store.finish_if_complete("nope") is None
    store.create("job-1", total=1, chunks=1, model="m", signing_key=KEY)
    store.mark_failed("job-1", "queue down")
    store.count_chunk("job-1", 0, fingerprint=FP, succeeded=1, failed=0, dimensions=3)
    assert store.finish_if_complete("job-1") is None
    assert store.get("job-1", max_errors=0).status == "failed"


def test_job_without_a_chunk_count_closes_on_what_it_has_seen(store: JobStore) -> None:
    store.start("ext-1", model="m", total=None, chunks=None)
    store.count_chunk("ext-1", 0, fingerprint=FP, succeeded=3, failed=1, dimensions=3)
    assert store.finish_if_complete("ext-1") == "partial"


def test_job_without_counts_reports_what_it_has_seen_after_every_chunk(store: JobStore) -> None:
    store.start("ext-1", model="m", total=None, chunks=None)
    statuses = []
    for chunk, (succeeded, failed) in enumerate([(0, 2), (3, 0), (2, 0)]):
        seen = store.start("ext-1", model="m", total=None, chunks=None)
        assert seen.aborted is False
        store.count_chunk("ext-1", chunk, fingerprint=FP, succeeded=succeeded, failed=failed, dimensions=3)
        statuses.append(store.finish_if_complete("ext-1"))
        assert store.get("ext-1", max_errors=0).status == statuses[-1]
    assert statuses == ["failed", "partial", "partial"]
    job = store.get("ext-1", max_errors=0)
    assert (job.chunks_done, job.succeeded, job.failed) == (3, 5, 2)


def test_job_without_counts_moves_from_succeeded_to_partial(store: JobStore) -> None:
    store.start("ext-1", model="m", total=None, chunks=None)
    store.count_chunk("ext-1", 0, fingerprint=FP, succeeded=3, failed=0, dimensions=3)
    assert store.finish_if_complete("ext-1") == "succeeded"
    store.count_chunk("ext-1", 1, fingerprint=FP, succeeded=0, failed=1, dimensions=None)
    assert store.finish_if_complete("ext-1") == "partial"
    assert store.get("ext-1", max_errors=0).status == "partial"


def test_a_stale_read_never_overwrites_newer_counts(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.start("ext-1", model="m", total=None, chunks=None)
    store.count_chunk("ext-1", 0, fingerprint=FP, succeeded=3, failed=0, dimensions=3)
    stale = store._get_item("ext-1")
    # Another worker counts chunk 1 between this worker's read and its write.
    store.count_chunk("ext-1", 1, fingerprint=FP, succeeded=0, failed=2, dimensions=None)
    real_get = store._get_item
    monkeypatch.setattr(store, "_get_item", lambda job_id: stale)
    assert store.finish_if_complete("ext-1") is None
    monkeypatch.setattr(store, "_get_item", real_get)
    assert store.get("ext-1", max_errors=0).status == "running"
    assert store.finish_if_complete("ext-1") == "partial"


def test_job_with_a_total_but_no_chunk_count_closes_when_the_total_is_reached(store: JobStore) -> None:
    store.start("ext-1", model="m", total=5, chunks=None)
    store.count_chunk("ext-1", 0, fingerprint=FP, succeeded=2, failed=1, dimensions=3)
    assert store.finish_if_complete("ext-1") is None
    assert store.get("ext-1", max_errors=0).status == "running"
    store.count_chunk("ext-1", 1, fingerprint=FP, succeeded=2, failed=0, dimensions=3)
    assert store.finish_if_complete("ext-1") == "partial"
    # Complete: it stays closed.
    store.count_chunk("ext-1", 2, fingerprint=FP, succeeded=0, failed=4, dimensions=None)
    assert store.finish_if_complete("ext-1") is None
    assert store.get("ext-1", max_errors=0).status == "partial"


def test_an_aborted_job_is_never_reopened_by_finishing(store: JobStore) -> None:
    store.create("job-1", total=2, chunks=2, model="m", signing_key=KEY)
    store.mark_failed("job-1", "the work queue could not be reached")
    store.count_chunk("job-1", 0, fingerprint=FP, succeeded=1, failed=0, dimensions=3)
    store.count_chunk("job-1", 1, fingerprint=FP, succeeded=1, failed=0, dimensions=3)
    assert store.finish_if_complete("job-1") is None
    assert store.get("job-1", max_errors=0).status == "failed"


# ------------------------------------------------------------------ item errors


def test_item_errors_come_back_in_index_order_with_ids(store: JobStore) -> None:
    store.create("job-1", total=2000, chunks=1, model="m", signing_key=KEY)
    errors = [ItemError(index=i, id=(f"doc-{i}" if i % 2 else None), error=f"refused {i}") for i in (1500, 3, 20, 7)]
    store.record_errors("job-1", errors)
    store.count_chunk("job-1", 0, fingerprint=FP, succeeded=1996, failed=4, dimensions=3)
    job = store.get("job-1", max_errors=10)
    assert job.errors == [
        ItemError(3, "doc-3", "refused 3"), ItemError(7, "doc-7", "refused 7"),
        ItemError(20, None, "refused 20"), ItemError(1500, None, "refused 1500"),
    ]


def test_recording_errors_again_changes_nothing(store: JobStore, dynamodb: Any) -> None:
    store.create("job-1", total=3, chunks=1, model="m", signing_key=KEY)
    errors = [ItemError(index=i, id=None, error="bad") for i in range(3)]
    store.record_errors("job-1", errors)
    store.record_errors("job-1", errors)
    assert all_keys(dynamodb, "job-1") == [error_sk(0), error_sk(1), error_sk(2), "job"]


def test_item_errors_are_capped_by_max_errors_across_pages(store: JobStore) -> None:
    store.create("job-1", total=60, chunks=1, model="m", signing_key=KEY)
    store.record_errors("job-1", [ItemError(index=i, id=None, error="e" * 3000) for i in range(60)])
    store.count_chunk("job-1", 0, fingerprint=FP, succeeded=0, failed=60, dimensions=None)
    job = store.get("job-1", max_errors=40)
    assert [e.index for e in job.errors] == list(range(40))
    assert {len(e.error) for e in job.errors} == {1000}  # each message capped when written
    assert store.get("job-1", max_errors=0).errors == []
    assert [e.index for e in store.get("job-1", max_errors=1000).errors] == list(range(60))


def test_errors_are_only_read_when_items_failed(store: JobStore) -> None:
    store.create("job-1", total=1, chunks=1, model="m", signing_key=KEY)
    store.record_errors("job-1", [ItemError(index=0, id=None, error="stale")])
    assert store.get("job-1", max_errors=10).errors == []  # failed counter is still 0


def test_recording_no_errors_writes_nothing(store: JobStore, dynamodb: Any) -> None:
    store.create("job-1", total=1, chunks=1, model="m", signing_key=KEY)
    store.record_errors("job-1", [])
    assert all_keys(dynamodb, "job-1") == ["job"]


def test_a_file_job_still_being_split_is_not_closed_by_its_first_counted_chunk(store: JobStore, dynamodb: Any) -> None:
    # A file job learns its total only when its splitter reaches the end of the file: until then
    # a counted chunk must not give it a final status (nor take it out of the open-jobs index).
    from vectorizer.files.file_jobs import FileJobRecords

    FileJobRecords(dynamodb, JOBS_TABLE, ttl_days=7).create("file-1", model="m", signing_key="k" * 64, owner="o")
    store.start("file-1", model="m", total=None, chunks=None)
    assert store.count_chunk("file-1", 0, fingerprint=items_fingerprint([0, 1]), succeeded=2, failed=0, dimensions=8)

    assert store.finish_if_complete("file-1") is None
    job = raw_job(dynamodb, "file-1")
    assert (job["status"]["S"], "openShard" in job) == ("running", True)
