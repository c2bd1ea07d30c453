"""One set of behaviour tests for the job and vector stores, run on DynamoDB (moto) and in memory.

The job service's unit tests run on the in-memory fakes; these tests are what makes that honest:
whatever the fakes do differently from the DynamoDB stores fails here, on one side or the other.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fakes.in_memory import InMemoryJobStore, InMemoryVectorStore
from tests.vectorizer.conftest import JOBS_TABLE, VECTORS_TABLE
from vectorizer.errors import JobNotFoundError
from vectorizer.hf.usage import HfUsage
from vectorizer.jobs.job_store import (
    CLOSED_BY_DEAD_LETTER,
    CLOSED_BY_WORKER,
    ChunkMarker,
    ItemError,
    JobStore,
    items_fingerprint,
)
from vectorizer.jobs.vector_store import StoredVector, VectorStore

KEY = "5a" * 32
FP_A = items_fingerprint([0, 1])
FP_B = items_fingerprint([2, 3])


@pytest.fixture(params=["dynamodb", "memory"])
def jobs(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryJobStore()
    return JobStore(request.getfixturevalue("dynamodb"), JOBS_TABLE, ttl_days=7)


@pytest.fixture(params=["dynamodb", "memory"])
def vectors(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryVectorStore()
    return VectorStore(request.getfixturevalue("dynamodb"), VECTORS_TABLE, ttl_days=7)


def counters(job: Any) -> tuple[Any, ...]:
    return (job.status, job.total, job.chunks, job.chunks_done, job.succeeded, job.failed, job.dimensions)


def float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


# ------------------------------------------------------------------ creating and starting


def test_a_created_job_is_queued_from_the_api_and_its_key_is_never_read_back(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="org/m", signing_key=KEY)
    job = jobs.get("job-1", max_errors=10)
    assert counters(job) == ("queued", 4, 2, 0, 0, 0, None)
    assert (job.model, job.origin, job.signing_key, job.aborted, job.errors) == ("org/m", "api", None, False, [])
    assert job.created_at == job.updated_at != ""


def test_creating_a_taken_id_is_refused_and_keeps_the_first(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    with pytest.raises(ClientError) as caught:
        jobs.create("job-1", total=9, chunks=9, model="m", signing_key="other")
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert jobs.get("job-1", max_errors=0).total == 4


def test_an_unknown_job_is_not_found(jobs: Any) -> None:
    with pytest.raises(JobNotFoundError) as caught:
        jobs.get("nope", max_errors=0)
    assert (caught.value.status, caught.value.message) == (404, "no job with id 'nope'")


def test_start_creates_a_producers_job_on_first_sight(jobs: Any) -> None:
    seen = jobs.start("ext-1", model="org/m", total=5, chunks=2)
    assert counters(seen) == ("running", 5, 2, 0, 0, 0, None)
    assert (seen.model, seen.origin, seen.signing_key) == ("org/m", "producer", None)
    assert counters(jobs.get("ext-1", max_errors=0)) == counters(seen)


def test_start_runs_an_api_job_keeps_its_fields_and_hands_back_its_key(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="org/m", signing_key=KEY)
    seen = jobs.start("job-1", model="other/m", total=99, chunks=99)
    assert counters(seen) == ("running", 4, 2, 0, 0, 0, None)
    assert (seen.model, seen.origin, seen.signing_key) == ("org/m", "api", KEY)
    assert jobs.get("job-1", max_errors=0).signing_key is None


def test_start_fills_in_counts_a_producers_first_message_left_out(jobs: Any) -> None:
    jobs.start("ext-1", model="m", total=None, chunks=None)
    seen = jobs.start("ext-1", model="m", total=3, chunks=2)
    assert (seen.total, seen.chunks) == (3, 2)
    assert (jobs.start("ext-1", model="m", total=8, chunks=8).total, jobs.get("ext-1", max_errors=0).chunks) == (3, 2)


def test_start_never_reopens_a_finished_job(jobs: Any) -> None:
    jobs.create("job-1", total=2, chunks=1, model="m", signing_key=KEY)
    jobs.start("job-1", model="m", total=2, chunks=1)
    assert jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    assert jobs.finish_if_complete("job-1") == "succeeded"
    seen = jobs.start("job-1", model="m", total=2, chunks=1)
    assert (seen.status, seen.signing_key) == ("succeeded", KEY)
    assert jobs.get("job-1", max_errors=0).status == "succeeded"


# ------------------------------------------------------------------ counting chunks


def test_a_chunk_counts_once_and_keeps_its_fingerprint(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    assert jobs.chunk_fingerprint("job-1", 0) is None
    assert jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3) is True
    assert jobs.count_chunk("job-1", 0, fingerprint=FP_B, succeeded=2, failed=0, dimensions=3) is False
    assert (jobs.chunk_fingerprint("job-1", 0), jobs.chunk_fingerprint("job-1", 1)) == (FP_A, None)
    assert counters(jobs.get("job-1", max_errors=0)) == ("queued", 4, 2, 1, 2, 0, 3)


def test_chunk_markers_and_counts_are_per_job(jobs: Any) -> None:
    jobs.create("job-1", total=2, chunks=1, model="m", signing_key=KEY)
    jobs.create("job-2", total=2, chunks=1, model="m", signing_key=KEY)
    assert jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    assert jobs.chunk_fingerprint("job-2", 0) is None
    assert jobs.count_chunk("job-2", 0, fingerprint=FP_B, succeeded=1, failed=1, dimensions=5)
    assert counters(jobs.get("job-2", max_errors=0)) == ("queued", 2, 1, 1, 1, 1, 5)


def test_dimensions_are_kept_from_the_first_chunk_that_had_vectors(jobs: Any) -> None:
    jobs.create("job-1", total=6, chunks=3, model="m", signing_key=KEY)
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=0, failed=2, dimensions=None)
    jobs.count_chunk("job-1", 1, fingerprint=FP_B, succeeded=2, failed=0, dimensions=4)
    jobs.count_chunk("job-1", 2, fingerprint=FP_A, succeeded=2, failed=0, dimensions=9)
    assert jobs.get("job-1", max_errors=0).dimensions == 4


@pytest.mark.parametrize(
    ("counts", "status"),
    [([(2, 0), (2, 0)], "succeeded"), ([(2, 0), (1, 1)], "partial"), ([(0, 2), (0, 2)], "failed")],
)
def test_a_job_closes_once_when_its_last_chunk_is_counted(jobs: Any, counts: list, status: str) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    jobs.start("job-1", model="m", total=4, chunks=2)
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=counts[0][0], failed=counts[0][1], dimensions=3)
    assert jobs.finish_if_complete("job-1") is None
    assert jobs.get("job-1", max_errors=0).status == "running"
    jobs.count_chunk("job-1", 1, fingerprint=FP_B, succeeded=counts[1][0], failed=counts[1][1], dimensions=3)
    assert jobs.finish_if_complete("job-1") == status
    assert jobs.finish_if_complete("job-1") is None
    assert jobs.get("job-1", max_errors=0).status == status


def test_a_job_with_only_a_total_closes_when_its_items_are_counted(jobs: Any) -> None:
    jobs.start("ext-1", model="m", total=4, chunks=None)
    jobs.count_chunk("ext-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    assert jobs.finish_if_complete("ext-1") is None
    jobs.count_chunk("ext-1", 7, fingerprint=FP_B, succeeded=1, failed=1, dimensions=3)
    assert jobs.finish_if_complete("ext-1") == "partial"


def test_an_open_ended_job_restates_its_status_after_every_chunk(jobs: Any) -> None:
    jobs.start("ext-1", model="m", total=None, chunks=None)
    jobs.count_chunk("ext-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    assert jobs.finish_if_complete("ext-1") == "succeeded"
    assert jobs.finish_if_complete("ext-1") == "succeeded"
    jobs.start("ext-1", model="m", total=None, chunks=None)
    assert jobs.get("ext-1", max_errors=0).status == "succeeded"  # not reopened by a new chunk
    jobs.count_chunk("ext-1", 1, fingerprint=FP_B, succeeded=0, failed=2, dimensions=None)
    assert jobs.finish_if_complete("ext-1") == "partial"
    assert counters(jobs.get("ext-1", max_errors=0)) == ("partial", None, None, 2, 2, 2, 3)


def test_a_marker_keeps_the_chunks_own_counts_and_who_closed_it(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    assert jobs.chunk_marker("job-1", 0) is None
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    jobs.count_chunk("job-1", 1, fingerprint=FP_B, succeeded=0, failed=2, dimensions=None,
                     closed_by=CLOSED_BY_DEAD_LETTER)
    assert jobs.chunk_marker("job-1", 0) == ChunkMarker(FP_A, 2, 0, CLOSED_BY_WORKER)
    assert jobs.chunk_marker("job-1", 1) == ChunkMarker(FP_B, 0, 2, CLOSED_BY_DEAD_LETTER)


def test_a_recount_moves_the_counters_by_the_difference_once_and_restates_a_closed_job(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    jobs.start("job-1", model="m", total=4, chunks=2)
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    jobs.count_chunk("job-1", 1, fingerprint=FP_B, succeeded=0, failed=2, dimensions=None,
                     closed_by=CLOSED_BY_DEAD_LETTER)
    assert jobs.finish_if_complete("job-1") == "partial"
    seen = jobs.chunk_marker("job-1", 1)

    assert jobs.recount_chunk("job-1", 1, seen=seen, succeeded=2, failed=0, dimensions=3) is True
    # A second run that read the same marker is refused: the chunk's items count once.
    assert jobs.recount_chunk("job-1", 1, seen=seen, succeeded=2, failed=0, dimensions=3) is False

    assert counters(jobs.get("job-1", max_errors=0)) == ("partial", 4, 2, 2, 4, 0, 3)
    assert jobs.chunk_marker("job-1", 1) == ChunkMarker(FP_B, 2, 0, CLOSED_BY_WORKER)
    assert jobs.finish_if_complete("job-1") == "succeeded"
    assert jobs.finish_if_complete("job-1") is None
    assert jobs.get("job-1", max_errors=0).status == "succeeded"


def test_a_chunks_usage_is_added_to_its_job_once_and_a_recount_adds_its_own(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    first = HfUsage(texts=2, cache_hits=1, sent=1, requests=1, requests_saved=1)
    assert jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3, usage=first)
    # The same chunk again (a redelivery) adds nothing; a chunk without usage leaves it as it is.
    assert not jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3, usage=first)
    jobs.count_chunk("job-1", 1, fingerprint=FP_B, succeeded=1, failed=1, dimensions=3)
    assert jobs.get("job-1", max_errors=0).usage == first

    redrive = HfUsage(texts=1, cache_hits=0, sent=1, requests=1, requests_saved=0)
    seen = jobs.chunk_marker("job-1", 1)
    assert jobs.recount_chunk("job-1", 1, seen=seen, succeeded=2, failed=0, dimensions=3, usage=redrive)
    assert not jobs.recount_chunk("job-1", 1, seen=seen, succeeded=2, failed=0, dimensions=3, usage=redrive)
    assert jobs.get("job-1", max_errors=0).usage == HfUsage(
        texts=3, cache_hits=1, sent=2, requests=2, requests_saved=1)


def test_a_recount_that_would_change_the_chunks_size_is_refused(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=0, failed=2, dimensions=None)
    with pytest.raises(ValueError, match="chunk 0 of job job-1 holds 2 items, not 3"):
        jobs.recount_chunk("job-1", 0, seen=jobs.chunk_marker("job-1", 0), succeeded=3, failed=0, dimensions=3)
    assert counters(jobs.get("job-1", max_errors=0)) == ("queued", 4, 2, 1, 0, 2, None)


def test_item_errors_can_be_cleared_by_index(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=1, model="m", signing_key=KEY)
    jobs.record_errors("job-1", [ItemError(0, "a", "refused"), ItemError(3, None, "refused")])
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=2, dimensions=3)
    jobs.clear_errors("job-1", [0, 1])
    assert jobs.get("job-1", max_errors=10).errors == [ItemError(3, None, "refused")]


# ------------------------------------------------------------------ giving up on a job


def test_a_job_given_up_on_is_failed_aborted_and_stays_so(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    jobs.mark_failed("job-1", "the work queue could not be reached: " + "x" * 2000)
    job = jobs.get("job-1", max_errors=0)
    assert (job.status, job.aborted, len(job.failure_reason)) == ("failed", True, 1000)
    assert job.failure_reason.startswith("the work queue could not be reached: xxx")
    seen = jobs.start("job-1", model="m", total=4, chunks=2)
    assert (seen.status, seen.aborted) == ("failed", True)
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    jobs.count_chunk("job-1", 1, fingerprint=FP_B, succeeded=2, failed=0, dimensions=3)
    assert jobs.finish_if_complete("job-1") is None
    assert jobs.get("job-1", max_errors=0).status == "failed"


def test_finishing_an_unknown_job_does_nothing(jobs: Any) -> None:
    assert jobs.finish_if_complete("nope") is None


# ------------------------------------------------------------------ item errors


def test_item_errors_are_keyed_by_index_read_in_order_and_capped(jobs: Any) -> None:
    jobs.create("job-1", total=10, chunks=1, model="m", signing_key=KEY)
    jobs.record_errors("job-1", [ItemError(7, "doc-7", "refused"), ItemError(2, None, "y" * 1500)])
    jobs.record_errors("job-1", [ItemError(7, "doc-7", "refused")])
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=8, failed=2, dimensions=3)
    assert jobs.get("job-1", max_errors=10).errors == [ItemError(2, None, "y" * 1000), ItemError(7, "doc-7", "refused")]
    assert jobs.get("job-1", max_errors=1).errors == [ItemError(2, None, "y" * 1000)]
    assert jobs.get("job-1", max_errors=0).errors == []


def test_item_errors_are_only_read_for_a_job_with_failed_items(jobs: Any) -> None:
    jobs.create("job-1", total=10, chunks=1, model="m", signing_key=KEY)
    jobs.record_errors("job-1", [ItemError(1, None, "refused")])
    assert jobs.get("job-1", max_errors=10).errors == []


# ------------------------------------------------------------------ vectors


def test_vectors_are_keyed_by_job_and_index_and_read_back_as_float32(vectors: Any) -> None:
    vectors.put("job-1", [StoredVector(1, "b", [0.1, 2.0]), StoredVector(0, None, [1.0, -0.5])], model="m")
    vectors.put("job-1", [StoredVector(1, "b2", [0.3, 4.0])], model="m")  # a redelivery overwrites
    vectors.put("job-2", [StoredVector(0, "other", [9.0, 9.0])], model="m")
    page, token = vectors.page("job-1", limit=10, next_token=None)
    assert page == [StoredVector(0, None, [1.0, -0.5]), StoredVector(1, "b2", [float32(0.3), 4.0])]
    assert token is None


def test_vector_pages_come_in_index_order_with_a_token_to_resume(vectors: Any) -> None:
    vectors.put("job-1", [StoredVector(i, f"d{i}", [float(i)]) for i in (4, 0, 2, 3, 6)], model="m")
    first, token = vectors.page("job-1", limit=2, next_token=None)
    assert [v.index for v in first] == [0, 2]
    assert token is not None
    second, token = vectors.page("job-1", limit=2, next_token=token)
    assert [v.index for v in second] == [3, 4]
    third, _ = vectors.page("job-1", limit=2, next_token=token)
    assert [(v.index, v.id, v.vector) for v in third] == [(6, "d6", [6.0])]


def test_stored_indexes_names_only_the_items_that_have_a_vector(vectors: Any) -> None:
    vectors.put("job-1", [StoredVector(i, None, [1.0]) for i in (0, 2, 150)], model="m")
    vectors.put("job-2", [StoredVector(1, None, [1.0])], model="m")
    assert vectors.stored_indexes("job-1", list(range(200))) == {0, 2, 150}
    assert vectors.stored_indexes("job-1", [1, 3]) == set()
    assert vectors.stored_indexes("job-1", []) == set()


# ------------------------------------------------------------------ open jobs and the sweeper's close

LATER = "9999-12-31T23:59:59.999Z"  # every stamp is before it
EARLIER = "2000-01-01T00:00:00.000Z"  # no stamp is before it


def open_ids(jobs: Any, cutoff: str = LATER) -> list[str]:
    return sorted(job.job_id for job in jobs.open_jobs_idle_since(cutoff))


def test_a_created_job_is_open_and_submitting_until_its_chunks_are_all_queued(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    [seen] = jobs.open_jobs_idle_since(LATER)
    assert (seen.job_id, seen.status, seen.total, seen.chunks, seen.submitting, seen.signing_key) == (
        "job-1", "queued", 4, 2, True, None)
    jobs.mark_submitted("job-1")
    assert jobs.get("job-1", max_errors=0).submitting is False
    assert [job.submitting for job in jobs.open_jobs_idle_since(LATER)] == [False]


def test_only_open_jobs_idle_since_the_cutoff_are_listed(jobs: Any) -> None:
    jobs.create("done", total=2, chunks=1, model="m", signing_key=KEY)
    jobs.create("given-up", total=2, chunks=1, model="m", signing_key=KEY)
    jobs.create("running", total=4, chunks=2, model="m", signing_key=KEY)
    jobs.start("producer", model="m", total=5, chunks=None)
    jobs.start("done", model="m", total=2, chunks=1)
    jobs.count_chunk("done", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    assert jobs.finish_if_complete("done") == "succeeded"
    jobs.mark_failed("given-up", "the work queue could not be reached")
    jobs.start("running", model="m", total=4, chunks=2)
    assert open_ids(jobs) == ["producer", "running"]
    assert open_ids(jobs, EARLIER) == []


def test_an_open_ended_job_leaves_the_open_jobs_once_its_status_is_set(jobs: Any) -> None:
    jobs.start("ext", model="m", total=None, chunks=None)
    assert open_ids(jobs) == ["ext"]
    jobs.count_chunk("ext", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    assert jobs.finish_if_complete("ext") == "succeeded"
    jobs.start("ext", model="m", total=None, chunks=None)
    assert open_ids(jobs) == []


def test_closing_a_stalled_job_counts_its_missing_items_failed_and_aborts_it(jobs: Any) -> None:
    jobs.create("job-1", total=6, chunks=3, model="m", signing_key=KEY)
    jobs.start("job-1", model="m", total=6, chunks=3)
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    [seen] = jobs.open_jobs_idle_since(LATER)
    reason = "4 of 6 items never processed: no progress"
    assert jobs.close_stalled("job-1", seen_updated_at=seen.updated_at, status="partial", missing=4, reason=reason)
    job = jobs.get("job-1", max_errors=0)
    assert counters(job) == ("partial", 6, 3, 1, 2, 4, 3)
    assert (job.failure_reason, job.aborted, job.submitting) == (reason, True, False)
    assert open_ids(jobs) == []
    # A chunk arriving afterwards finds the job closed and aborted: it is skipped, the job stays as it is.
    late = jobs.start("job-1", model="m", total=6, chunks=3)
    assert (late.status, late.aborted) == ("partial", True)
    assert open_ids(jobs) == []
    # Closing it again changes nothing.
    assert not jobs.close_stalled("job-1", seen_updated_at=job.updated_at, status="failed", missing=4, reason="x")
    assert counters(jobs.get("job-1", max_errors=0)) == ("partial", 6, 3, 1, 2, 4, 3)


def test_a_chunk_counted_after_the_sweeper_read_the_job_wins_over_its_close(jobs: Any) -> None:
    jobs.create("job-1", total=4, chunks=2, model="m", signing_key=KEY)
    jobs.start("job-1", model="m", total=4, chunks=2)
    [seen] = jobs.open_jobs_idle_since(LATER)
    # The stamps have millisecond precision: let the count land in a later one.
    time.sleep(0.002)
    jobs.count_chunk("job-1", 0, fingerprint=FP_A, succeeded=2, failed=0, dimensions=3)
    assert not jobs.close_stalled("job-1", seen_updated_at=seen.updated_at, status="failed", missing=4, reason="x")
    job = jobs.get("job-1", max_errors=0)
    assert counters(job) == ("running", 4, 2, 1, 2, 0, 3)
    assert (job.failure_reason, job.aborted) == (None, False)
    assert open_ids(jobs) == ["job-1"]
