"""The dead-letter queue's consumer, on the in-memory ports: a dead chunk closes its job, once.

What reaches the dead-letter queue is either a chunk SQS gave up on (no `reason` attribute) or a
message the worker parked (with one). A chunk its job takes has its items without a vector
recorded as failed, is counted once, and closes its job; anything else is only reported. Every
message is then parked, with its reason, for the operator.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.fakes.in_memory import FakeDefaultToken, InMemoryParking, InMemoryServices, fake_vector
from vectorizer.config import ModuleConfig
from vectorizer.jobs.dead_letters import consume_dead_letter, delivery_limit_reason
from vectorizer.jobs.job_store import CLOSED_BY_DEAD_LETTER, CLOSED_BY_WORKER, ChunkMarker, ItemError
from vectorizer.jobs.message import ChunkItem, ChunkMessage, signed
from vectorizer.jobs.service import process_chunk, submit_job
from vectorizer.jobs.vector_store import StoredVector
from vectorizer.settings import Settings

MODEL = "org/model"
LIMIT = "delivery limit reached after 5 deliveries"


@pytest.fixture
def deps() -> InMemoryServices:
    return InMemoryServices(settings=Settings(CHUNK_SIZE=3), default_token=FakeDefaultToken("hf_defaultTOKEN0000"))


@pytest.fixture
def parking() -> InMemoryParking:
    return InMemoryParking()


def api_chunks(deps: InMemoryServices, count: int) -> list[ChunkMessage]:
    submit_job(
        deps, config=ModuleConfig(model=MODEL), purpose="passage", texts=[f"text {i}" for i in range(count)],
        ids=[f"doc-{i}" for i in range(count)], token="hf_callerTOKEN", token_is_callers=True, model=MODEL,
        owner="anonymous",
    )
    return [ChunkMessage.model_validate_json(body) for body in deps.queue.sent]


def job(deps: InMemoryServices, job_id: str) -> Any:
    return deps.jobs.get(job_id, max_errors=100)


def test_a_dead_chunk_without_a_reason_fails_its_items_with_the_delivery_limit_and_closes_the_job(
    deps: InMemoryServices, parking: InMemoryParking
) -> None:
    first, second = api_chunks(deps, 5)
    assert process_chunk(deps, first, final_attempt=False, deadline=time.monotonic() + 30).succeeded == 3

    report = consume_dead_letter(deps, parking, second.to_json(), reason=None)

    assert (report.outcome, report.job_id, report.chunk, report.succeeded, report.failed, report.job_status) == (
        "recorded", first.job_id, 1, 0, 2, "partial")
    record = job(deps, first.job_id)
    assert (record.status, record.succeeded, record.failed, record.chunks_done) == ("partial", 3, 2, 2)
    assert record.errors == [ItemError(3, "doc-3", LIMIT), ItemError(4, "doc-4", LIMIT)]
    assert deps.jobs.chunk_marker(first.job_id, 1) == ChunkMarker(
        deps.jobs.chunk_fingerprint(first.job_id, 1), 0, 2, CLOSED_BY_DEAD_LETTER)
    assert parking.parked == [(second.to_json(), LIMIT)]
    assert delivery_limit_reason(5) == LIMIT


def test_a_dead_chunk_keeps_the_vectors_it_stored_and_fails_only_the_others_with_the_message_reason(
    deps: InMemoryServices, parking: InMemoryParking
) -> None:
    [chunk] = api_chunks(deps, 3)
    # Its worker stored one vector, then died before counting.
    deps.vectors.put(chunk.job_id, [StoredVector(1, "doc-1", fake_vector("text 1"))], model=MODEL)

    report = consume_dead_letter(deps, parking, chunk.to_json(), reason="worker killed")

    assert (report.outcome, report.succeeded, report.failed, report.job_status) == ("recorded", 1, 2, "partial")
    record = job(deps, chunk.job_id)
    assert (record.status, record.succeeded, record.failed) == ("partial", 1, 2)
    assert record.errors == [ItemError(0, "doc-0", "worker killed"), ItemError(2, "doc-2", "worker killed")]
    assert parking.parked == [(chunk.to_json(), "worker killed")]


def test_consuming_the_same_dead_chunk_twice_changes_nothing(deps: InMemoryServices, parking: InMemoryParking) -> None:
    [chunk] = api_chunks(deps, 3)
    consume_dead_letter(deps, parking, chunk.to_json(), reason=None)
    before = (job(deps, chunk.job_id), dict(deps.jobs.markers), dict(deps.jobs.errors))

    again = consume_dead_letter(deps, parking, chunk.to_json(), reason="another reason")

    assert (again.outcome, again.succeeded, again.failed) == ("unchanged", 0, 3)
    after = (job(deps, chunk.job_id), dict(deps.jobs.markers), dict(deps.jobs.errors))
    assert after == before
    assert (after[0].status, after[0].failed, after[0].chunks_done) == ("failed", 3, 1)


def test_a_chunk_the_worker_counted_is_not_touched_by_its_dead_letter(
    deps: InMemoryServices, parking: InMemoryParking
) -> None:
    [chunk] = api_chunks(deps, 3)
    process_chunk(deps, chunk, final_attempt=False, deadline=time.monotonic() + 30)
    report = consume_dead_letter(deps, parking, chunk.to_json(), reason=None)
    assert (report.outcome, report.succeeded, report.failed) == ("unchanged", 3, 0)
    assert deps.jobs.chunk_marker(chunk.job_id, 0).closed_by == CLOSED_BY_WORKER
    assert (job(deps, chunk.job_id).status, job(deps, chunk.job_id).errors) == ("succeeded", [])


def forged(chunk: ChunkMessage) -> str:
    return chunk.model_copy(update={"signature": "0" * 64}).to_json()


def unsigned(chunk: ChunkMessage) -> str:
    return chunk.model_copy(update={"signature": None}).to_json()


def past_the_job(chunk: ChunkMessage) -> str:
    # Signed with the job's own key, yet naming an item the job does not have.
    key = JOBS_KEYS[chunk.job_id]
    moved = chunk.model_copy(update={"total": None, "items": [ChunkItem(index=7, id=None, text="x")]})
    return signed(moved, key).to_json()


JOBS_KEYS: dict[str, str] = {}


@pytest.mark.parametrize(
    ("make", "refused"),
    [
        (forged, "its signature does not match the job it names"),
        (unsigned, "the message carries no signature"),
        (past_the_job, "item index 7 is past the job's 3 items"),
        (lambda chunk: '{"jobId": "x"', "not a chunk message"),
    ],
    ids=["forged", "unsigned", "past-the-job", "not-json"],
)
def test_a_message_its_job_does_not_take_is_only_reported_and_parked(
    deps: InMemoryServices, parking: InMemoryParking, make, refused: str
) -> None:
    [chunk] = api_chunks(deps, 3)
    JOBS_KEYS[chunk.job_id] = deps.jobs.records[chunk.job_id].signing_key
    body = make(chunk)

    report = consume_dead_letter(deps, parking, body, reason="parked by the worker")

    assert report.outcome == "ignored"
    assert refused in report.refused
    record = job(deps, chunk.job_id)
    assert (record.succeeded, record.failed, record.chunks_done, record.errors) == (0, 0, 0, [])
    assert deps.jobs.markers == {}
    assert parking.parked == [(body, "parked by the worker")]


def test_a_chunk_number_taken_by_other_items_is_only_reported(deps: InMemoryServices, parking: InMemoryParking) -> None:
    items = [ChunkItem(index=i, id=None, text=f"t{i}") for i in range(2)]
    counted = ChunkMessage(job_id="ext-1", chunk=0, chunks=2, total=4, config=ModuleConfig(model=MODEL), items=items)
    process_chunk(deps, counted, final_attempt=False, deadline=time.monotonic() + 30)
    other = counted.model_copy(update={"items": [ChunkItem(index=i, id=None, text=f"t{i}") for i in (2, 3)]})

    report = consume_dead_letter(deps, parking, other.to_json(), reason=None)

    assert (report.outcome, report.refused) == (
        "ignored", "chunk 0 of job ext-1 was already processed with other items")
    assert (job(deps, "ext-1").succeeded, job(deps, "ext-1").failed, job(deps, "ext-1").status) == (2, 0, "running")


def test_a_chunk_of_a_job_given_up_on_is_not_recorded(deps: InMemoryServices, parking: InMemoryParking) -> None:
    [chunk] = api_chunks(deps, 3)
    deps.jobs.mark_failed(chunk.job_id, "the work queue could not be reached: full")
    report = consume_dead_letter(deps, parking, chunk.to_json(), reason=None)
    assert (report.outcome, report.job_status) == ("ignored", "failed")
    assert (job(deps, chunk.job_id).failed, deps.jobs.markers) == (0, {})
    assert len(parking.parked) == 1


def test_a_producers_dead_chunk_whose_config_was_refused_still_closes_its_job(
    deps: InMemoryServices, parking: InMemoryParking
) -> None:
    bad = ChunkMessage(
        job_id="ext-2", chunk=0, chunks=1, total=1, items=[ChunkItem(index=0, id="a", text="x")],
        config=ModuleConfig(endpointURL="https://evil.example.com/embed"),
    )
    report = consume_dead_letter(deps, parking, bad.to_json(), reason="endpointURL host is not allowed")
    assert (report.outcome, report.job_status) == ("recorded", "failed")
    assert job(deps, "ext-2").errors == [ItemError(0, "a", "endpointURL host is not allowed")]
