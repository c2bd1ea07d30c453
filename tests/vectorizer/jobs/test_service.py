"""Every decision of the job service, on the in-memory ports: fast, and exact.

`process_chunk` decides per chunk: store, fail an item alone, retry later, fail the chunk's items
(on the last delivery, or at once when no retry helps), refuse the message (for the worker to
park), skip it, or recognise a redelivery. `submit_job` records and queues a job. The fakes keep
the DynamoDB stores' semantics (tests/vectorizer/jobs/test_store_contract.py holds them to it).
"""

from __future__ import annotations

import ast
import inspect
import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fakes.in_memory import (
    FakeDefaultToken,
    FakeEmbedder,
    FakeSealer,
    InMemoryJobStore,
    InMemoryQueue,
    InMemoryServices,
    InMemoryVectorStore,
    fake_vector,
)
from vectorizer.config import ModuleConfig
from vectorizer.credentials import DefaultToken, TokenSealer
from vectorizer.errors import HuggingFaceError, VectorizerError
from vectorizer.hf.client import HuggingFaceClient
from vectorizer.hf.usage import HfUsage
from vectorizer.jobs import ports, service
from vectorizer.jobs.job_store import CLOSED_BY_WORKER, ChunkMarker, ItemError, JobStore, items_fingerprint
from vectorizer.jobs.message import ChunkItem, ChunkMessage, chunk_signature, signature_matches, signed
from vectorizer.jobs.service import (
    ChunkConflictError,
    ChunkForgedError,
    ChunkOutOfBoundsError,
    ChunkRetryLater,
    process_chunk,
    submit_job,
)
from vectorizer.jobs.vector_store import StoredVector, VectorStore
from vectorizer.jobs.work_queue import ChunkQueue
from vectorizer.services import Services
from vectorizer.settings import Settings

MODEL = "org/model"
DEFAULT = "hf_defaultTOKENforUnitTests000"
CALLER = "hf_callerTOKENforUnitTests9999"
LOADING = HuggingFaceError("Model org/model is currently loading", status=503, retryable=True)
TOO_LONG = HuggingFaceError("input is too long for the model", status=400, item_specific=True)


@pytest.fixture
def deps() -> InMemoryServices:
    return InMemoryServices(settings=Settings(CHUNK_SIZE=2), default_token=FakeDefaultToken(DEFAULT))


def message(job_id: str = "ext-1", chunk: int = 0, texts: tuple[str, ...] = ("a", "bb", "ccc"), *,
            first_index: int = 0, **fields: Any) -> ChunkMessage:
    items = [ChunkItem(index=first_index + i, id=f"doc-{first_index + i}", text=t) for i, t in enumerate(texts)]
    return ChunkMessage(job_id=job_id, chunk=chunk, config=ModuleConfig(model=MODEL), items=items, **fields)


def run(deps: InMemoryServices, msg: ChunkMessage, *, final_attempt: bool = False) -> service.ChunkReport:
    return process_chunk(deps, msg, final_attempt=final_attempt, deadline=time.monotonic() + 30)


def api_job(deps: InMemoryServices, texts: list[str], *, token: str = CALLER, own: bool = True) -> list[ChunkMessage]:
    queued = submit_job(
        deps, config=ModuleConfig(model=MODEL), purpose="passage", texts=texts,
        ids=[f"doc-{i}" for i in range(len(texts))], token=token, token_is_callers=own, model=MODEL,
        owner="anonymous",
    )
    assert len(deps.queue.sent) == queued.chunks
    return [ChunkMessage.model_validate_json(body) for body in deps.queue.sent]


def job(deps: InMemoryServices, job_id: str) -> Any:
    return deps.jobs.get(job_id, max_errors=100)


# ------------------------------------------------------------------ process_chunk: the usual paths


def test_a_chunk_whose_texts_all_embed_is_stored_counted_and_closes_its_job(deps: InMemoryServices) -> None:
    report = run(deps, message(total=3, chunks=1))
    assert report == service.ChunkReport(
        "ext-1", 0, 3, 0, duplicate=False, job_status="succeeded", usage=HfUsage(texts=3, sent=3, requests=1)
    )
    assert deps.vectors.stored("ext-1") == {0: fake_vector("a"), 1: fake_vector("bb"), 2: fake_vector("ccc")}
    assert deps.hf.calls == [(MODEL, ("a", "bb", "ccc"), DEFAULT)]
    record = job(deps, "ext-1")
    assert (record.status, record.succeeded, record.failed, record.dimensions) == ("succeeded", 3, 0, 3)


def test_a_text_hf_refuses_fails_alone_and_the_job_is_partial(deps: InMemoryServices) -> None:
    deps.hf.refuse["bb"] = TOO_LONG
    report = run(deps, message(total=3, chunks=1))
    assert (report.succeeded, report.failed, report.job_status, report.reason) == (2, 1, "partial", None)
    assert sorted(deps.vectors.stored("ext-1")) == [0, 2]
    assert job(deps, "ext-1").errors == [ItemError(1, "doc-1", "input is too long for the model")]


def test_a_passing_hf_failure_before_the_last_delivery_hands_the_chunk_back(deps: InMemoryServices) -> None:
    deps.hf.fail_all = LOADING
    with pytest.raises(ChunkRetryLater) as caught:
        run(deps, message(total=3, chunks=1), final_attempt=False)
    assert caught.value.error is LOADING
    assert deps.vectors.stored("ext-1") == {}
    assert deps.jobs.chunk_fingerprint("ext-1", 0) is None
    assert (job(deps, "ext-1").status, job(deps, "ext-1").failed) == ("running", 0)


def test_a_passing_hf_failure_on_the_last_delivery_fails_the_items_with_the_reason_and_closes_the_job(
    deps: InMemoryServices,
) -> None:
    deps.hf.fail_all = LOADING
    report = run(deps, message(total=3, chunks=1), final_attempt=True)
    assert (report.succeeded, report.failed, report.job_status) == (0, 3, "failed")
    assert job(deps, "ext-1").errors == [
        ItemError(i, f"doc-{i}", "Model org/model is currently loading") for i in range(3)
    ]


def test_a_chunk_without_any_token_fails_at_once_without_calling_hf(deps: InMemoryServices) -> None:
    deps.default_token.value = None
    report = run(deps, message(total=3, chunks=1), final_attempt=False)
    reason = (
        "no Hugging Face token: the message carries no sealed token and this deployment has no default token "
        "(HUGGINGFACE_APIKEY or HUGGINGFACE_APIKEY_SECRET_ARN)"
    )
    assert (report.succeeded, report.failed, report.job_status, report.reason) == (0, 3, "failed", reason)
    assert deps.hf.calls == []
    assert [e.error for e in job(deps, "ext-1").errors] == [reason] * 3


def test_a_sealed_token_that_does_not_open_fails_the_chunk_at_once(deps: InMemoryServices) -> None:
    sealed_elsewhere = deps.sealer.seal(CALLER, "another-job")
    report = run(deps, message(total=3, chunks=1, sealed_token=sealed_elsewhere), final_attempt=False)
    assert (report.failed, report.job_status, report.reason) == (
        3, "failed", "the sealed token does not open under this job id"
    )
    assert deps.hf.calls == []


def test_a_refused_config_is_a_4xx_for_the_worker_to_park_and_touches_nothing(deps: InMemoryServices) -> None:
    refused = message(total=3, chunks=1).model_copy(
        update={"config": ModuleConfig(endpointURL="https://collector.example.com/embed")}
    )
    with pytest.raises(VectorizerError) as caught:
        run(deps, refused, final_attempt=True)
    assert (caught.value.status, caught.value.code) == (403, "endpoint_not_allowed")
    assert deps.jobs.records == {}
    assert deps.hf.calls == []


def test_a_chunk_number_reused_for_other_items_is_a_conflict_and_counts_nothing(deps: InMemoryServices) -> None:
    run(deps, message(total=6, chunks=2))
    with pytest.raises(ChunkConflictError) as caught:
        run(deps, message(total=6, chunks=2, texts=("d", "e", "f"), first_index=3), final_attempt=True)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        409, "chunk_conflict", "chunk 0 of job ext-1 was already processed with other items"
    )
    assert (job(deps, "ext-1").succeeded, job(deps, "ext-1").chunks_done) == (3, 1)
    # Refused before any HF call or write: the marker still names the first chunk's items.
    assert deps.jobs.chunk_fingerprint("ext-1", 0) == items_fingerprint([0, 1, 2])
    assert sorted(deps.vectors.stored("ext-1")) == [0, 1, 2]
    assert len(deps.hf.calls) == 1


def test_a_chunk_of_a_job_given_up_on_is_skipped(deps: InMemoryServices) -> None:
    deps.jobs.start("ext-1", model=MODEL, total=3, chunks=1)
    deps.jobs.mark_failed("ext-1", "the work queue could not be reached")
    report = run(deps, message(total=3, chunks=1))
    assert report == service.ChunkReport("ext-1", 0, 0, 0, duplicate=False, job_status="failed", skipped=True)
    assert deps.hf.calls == []


def test_a_redelivered_counted_chunk_is_a_duplicate_and_closes_a_job_left_open(deps: InMemoryServices) -> None:
    # The first delivery counted the chunk, then died before closing the job.
    deps.jobs.start("ext-1", model=MODEL, total=3, chunks=1)
    deps.jobs.count_chunk("ext-1", 0, fingerprint=items_fingerprint([0, 1, 2]), succeeded=3, failed=0, dimensions=3)
    report = run(deps, message(total=3, chunks=1))
    assert report == service.ChunkReport("ext-1", 0, 0, 0, duplicate=True, job_status="succeeded")
    assert deps.hf.calls == []
    assert (job(deps, "ext-1").status, job(deps, "ext-1").succeeded) == ("succeeded", 3)


def test_a_failure_after_vectors_were_stored_keeps_them_on_the_last_delivery(deps: InMemoryServices) -> None:
    deps.hf.refuse["bb"] = TOO_LONG
    real_record_errors = deps.jobs.record_errors
    calls = []

    def throttled_once(job_id: str, errors: list[ItemError]) -> None:
        calls.append([e.index for e in errors])
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "BatchWriteItem")
        real_record_errors(job_id, errors)

    deps.jobs.record_errors = throttled_once  # type: ignore[method-assign]
    report = run(deps, message(total=3, chunks=1), final_attempt=True)

    assert calls == [[1], [1]]
    assert report.reason == "still failing on its last delivery: BatchWriteItem failed: ThrottlingException slow down"
    assert (report.succeeded, report.failed, report.job_status) == (2, 1, "partial")
    assert deps.vectors.stored("ext-1") == {0: fake_vector("a"), 2: fake_vector("ccc")}
    # The item HF refused keeps its own reason; the stored ones are not failed.
    assert job(deps, "ext-1").errors == [ItemError(1, "doc-1", "input is too long for the model")]


def test_a_passing_store_failure_before_the_last_delivery_is_raised_for_a_retry(deps: InMemoryServices) -> None:
    def refuse(job_id: str, vectors: list, *, model: str) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "BatchWriteItem")

    deps.vectors.put = refuse  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        run(deps, message(total=3, chunks=1), final_attempt=False)
    assert deps.jobs.chunk_fingerprint("ext-1", 0) is None


def test_a_vector_write_failing_half_way_on_the_last_delivery_never_fails_an_item_whose_vector_is_stored(
    deps: InMemoryServices,
) -> None:
    real_put = deps.vectors.put

    def first_only(job_id: str, vectors: list, *, model: str) -> None:
        real_put(job_id, vectors[:1], model=model)  # the first batch got in, the next was throttled
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "BatchWriteItem")

    deps.vectors.put = first_only  # type: ignore[method-assign]
    report = run(deps, message(total=3, chunks=1), final_attempt=True)

    reason = "still failing on its last delivery: BatchWriteItem failed: ThrottlingException slow down"
    assert (report.succeeded, report.failed, report.job_status, report.reason) == (1, 2, "partial", reason)
    record = job(deps, "ext-1")
    assert (record.succeeded, record.failed) == (1, 2)
    assert record.errors == [ItemError(1, "doc-1", reason), ItemError(2, "doc-2", reason)]
    assert sorted(deps.vectors.stored("ext-1")) == [0]


def test_a_last_delivery_whose_failure_cannot_be_recorded_is_handed_back_for_the_dead_letter_queue(
    deps: InMemoryServices,
) -> None:
    deps.hf.fail_all = LOADING

    def throttled(*args: Any, **kwargs: Any) -> bool:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")

    deps.jobs.count_chunk = throttled  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        run(deps, message(total=3, chunks=1), final_attempt=True)
    assert deps.jobs.chunk_marker("ext-1", 0) is None
    assert (job(deps, "ext-1").status, job(deps, "ext-1").failed) == ("running", 0)


def fail_on_the_last_delivery(deps: InMemoryServices, msg: ChunkMessage) -> None:
    """The chunk's HF calls fail on every delivery: its items are recorded failed on the last one."""
    deps.hf.fail_all = LOADING
    assert run(deps, msg, final_attempt=True).failed == len(msg.items)
    deps.hf.fail_all = None
    deps.hf.calls.clear()


def test_a_redriven_chunk_that_succeeds_turns_its_items_from_failed_to_stored_and_the_job_succeeds(
    deps: InMemoryServices,
) -> None:
    first, second = message(chunks=2, total=5), message(chunk=1, texts=("d", "ee"), first_index=3, chunks=2, total=5)
    run(deps, first)
    fail_on_the_last_delivery(deps, second)
    assert (job(deps, "ext-1").status, job(deps, "ext-1").succeeded, job(deps, "ext-1").failed) == ("partial", 3, 2)

    report = run(deps, second)  # the operator redrove it to the work queue

    assert (report.succeeded, report.failed, report.duplicate, report.job_status) == (2, 0, False, "succeeded")
    record = job(deps, "ext-1")
    assert (record.status, record.succeeded, record.failed, record.chunks_done, record.errors) == (
        "succeeded", 5, 0, 2, [])
    assert deps.jobs.chunk_marker("ext-1", 1) == ChunkMarker(items_fingerprint([3, 4]), 2, 0, CLOSED_BY_WORKER)
    assert sorted(deps.vectors.stored("ext-1")) == [0, 1, 2, 3, 4]
    # Counted once: the same message again is a duplicate and calls nothing.
    assert run(deps, second).duplicate is True
    assert (job(deps, "ext-1").succeeded, job(deps, "ext-1").failed) == (5, 0)
    assert deps.hf.calls == [(MODEL, ("d", "ee"), DEFAULT)]


def test_a_redriven_chunk_sends_only_its_items_without_a_vector_and_keeps_a_refused_one_failed(
    deps: InMemoryServices,
) -> None:
    msg = message(total=3, chunks=1)
    fail_on_the_last_delivery(deps, msg)
    deps.vectors.put("ext-1", [StoredVector(0, "doc-0", fake_vector("a"))], model=MODEL)
    deps.hf.refuse["ccc"] = TOO_LONG

    report = run(deps, msg)

    assert deps.hf.calls == [(MODEL, ("bb", "ccc"), DEFAULT)]
    assert (report.succeeded, report.failed, report.job_status) == (2, 1, "partial")
    record = job(deps, "ext-1")
    assert (record.status, record.succeeded, record.failed) == ("partial", 2, 1)
    assert record.errors == [ItemError(2, "doc-2", "input is too long for the model")]


def test_a_redriven_chunk_that_fails_again_changes_nothing(deps: InMemoryServices) -> None:
    msg = message(total=3, chunks=1)
    fail_on_the_last_delivery(deps, msg)
    before = (job(deps, "ext-1"), dict(deps.jobs.errors))
    deps.hf.fail_all = LOADING
    report = run(deps, msg, final_attempt=True)
    assert (report.succeeded, report.failed, report.duplicate) == (0, 3, True)
    assert (job(deps, "ext-1"), dict(deps.jobs.errors)) == before


# ------------------------------------------------------------------ process_chunk: whose job it is


def test_an_api_chunk_with_its_own_signature_is_worked(deps: InMemoryServices) -> None:
    messages = api_job(deps, ["a", "bb", "ccc"])
    reports = [run(deps, m) for m in messages]
    assert [r.job_status for r in reports] == [None, "succeeded"]
    assert deps.vectors.stored(messages[0].job_id) == {i: fake_vector(t) for i, t in enumerate(["a", "bb", "ccc"])}
    assert {call[2] for call in deps.hf.calls} == {CALLER}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"signature": None}, "the job was created by the API and the message carries no signature from it"),
        ({"signature": "ab" * 32}, "its signature does not match the job it names"),
        ({"items": [ChunkItem(index=0, id="doc-0", text="forged")]}, "its signature does not match the job it names"),
        ({"chunk": 1}, "its signature does not match the job it names"),
        ({"sealed_token": None}, "its signature does not match the job it names"),
    ],
    ids=["unsigned", "wrong-signature", "other-text", "other-chunk", "token-removed"],
)
def test_a_message_for_an_api_job_without_its_signature_is_refused_and_touches_nothing(
    deps: InMemoryServices, change: dict, reason: str
) -> None:
    [first, _] = api_job(deps, ["a", "bb", "ccc"])
    with pytest.raises(ChunkForgedError) as caught:
        run(deps, first.model_copy(update=change), final_attempt=True)
    chunk = change.get("chunk", 0)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        403, "chunk_not_signed", f"chunk {chunk} of job {first.job_id} is refused: {reason}"
    )
    assert deps.hf.calls == []
    assert deps.vectors.stored(first.job_id) == {}
    assert job(deps, first.job_id).chunks_done == 0


def test_a_signed_chunk_past_the_jobs_recorded_bounds_is_refused(deps: InMemoryServices) -> None:
    [first, _] = api_job(deps, ["a", "bb", "ccc"])
    key = deps.jobs.records[first.job_id].signing_key
    assert key is not None
    # Signed with the right key (as only a leak of it could), yet past the job's 2 chunks and 3 items.
    late = signed(first.model_copy(update={"chunk": 2, "chunks": None, "total": None}), key)
    with pytest.raises(ChunkOutOfBoundsError) as caught:
        run(deps, late)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        409, "chunk_out_of_bounds", f"chunk 2 of job {first.job_id} is refused: the job has 2 chunks (numbered 0 to 1)"
    )
    past = signed(message(first.job_id, 1, ("x",), first_index=3, sealed_token=first.sealed_token), key)
    with pytest.raises(ChunkOutOfBoundsError) as caught:
        run(deps, past)
    assert caught.value.message == (
        f"chunk 1 of job {first.job_id} is refused: item index 3 is past the job's 3 items (numbered 0 to 2)"
    )
    assert deps.hf.calls == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"total": 5, "chunks": 2}, "the message says the job has 5 items, the job has 3"),
        ({"chunks": 3, "total": 3}, "the message says the job has 3 chunks, the job has 2"),
    ],
)
def test_a_producers_message_that_disagrees_with_its_job_is_refused(
    deps: InMemoryServices, fields: dict, reason: str
) -> None:
    run(deps, message(texts=("a", "bb"), total=3, chunks=2))
    with pytest.raises(ChunkOutOfBoundsError) as caught:
        run(deps, message(chunk=1, texts=("ccc",), first_index=2, **fields))
    assert caught.value.message == f"chunk 1 of job ext-1 is refused: {reason}"
    assert job(deps, "ext-1").succeeded == 2


def test_a_producers_message_for_an_unknown_job_creates_it_as_theirs(deps: InMemoryServices) -> None:
    run(deps, message("ext-new", texts=("a",)))
    record = deps.jobs.records["ext-new"]
    assert (record.origin, record.signing_key, record.total, record.chunks) == ("producer", None, None, None)


# ------------------------------------------------------------------ submit_job


def test_submit_job_records_the_job_and_queues_signed_chunks_of_its_items(deps: InMemoryServices) -> None:
    messages = api_job(deps, ["a", "bb", "ccc"])
    job_id = messages[0].job_id
    assert [(m.chunk, m.chunks, m.total, [i.index for i in m.items]) for m in messages] == [
        (0, 2, 3, [0, 1]), (1, 2, 3, [2])
    ]
    record = deps.jobs.records[job_id]
    assert (record.status, record.total, record.chunks, record.model, record.origin) == ("queued", 3, 2, MODEL, "api")
    assert record.signing_key is not None and len(record.signing_key) == 64
    assert all(signature_matches(m, record.signing_key) for m in messages)
    assert all(m.signature == chunk_signature(m, record.signing_key) for m in messages)
    assert all(record.signing_key not in body for body in deps.queue.sent)
    assert job(deps, job_id).signing_key is None


def test_submit_job_seals_a_callers_token_and_never_queues_it_plain(deps: InMemoryServices) -> None:
    messages = api_job(deps, ["a", "bb", "ccc"], token=CALLER, own=True)
    assert all(CALLER not in body for body in deps.queue.sent)
    assert {deps.sealer.unseal(m.sealed_token or "", m.job_id) for m in messages} == {CALLER}


def test_submit_job_sends_no_token_at_all_when_it_is_the_default(deps: InMemoryServices) -> None:
    messages = api_job(deps, ["a", "bb", "ccc"], token=DEFAULT, own=False)
    assert [m.sealed_token for m in messages] == [None, None]
    assert all(DEFAULT not in body for body in deps.queue.sent)


def test_a_queue_that_refuses_chunks_fails_the_job_and_answers_503_naming_it(deps: InMemoryServices) -> None:
    deps.queue.accept = 1
    with pytest.raises(VectorizerError) as caught:
        api_job(deps, ["a", "bb", "ccc"])
    [job_id] = list(deps.jobs.records)
    assert (caught.value.status, caught.value.code) == (503, "queue_unavailable")
    assert caught.value.message == (
        f"job {job_id} could not be started: the work queue could not be reached (the work queue refused 1 chunk "
        "message(s): full); it is marked failed, submit the texts again later"
    )
    assert CALLER not in caught.value.message
    record = job(deps, job_id)
    assert (record.status, record.aborted, record.failure_reason) == (
        "failed", True, "the work queue could not be reached: the work queue refused 1 chunk message(s): full"
    )
    # The chunk that did get out is acknowledged and skipped, not worked.
    [sent] = deps.queue.sent
    assert run(deps, ChunkMessage.model_validate_json(sent)).skipped is True
    assert deps.hf.calls == []


# ------------------------------------------------------------------ the ports


def test_a_submitted_job_is_no_longer_submitting_once_every_chunk_is_queued(deps: InMemoryServices) -> None:
    [job_id] = {m.job_id for m in api_job(deps, ["a", "bb", "ccc"])}
    assert (deps.jobs.records[job_id].submitting, job_id in deps.jobs.open) == (False, True)


class Killed(BaseException):
    """The API process dying mid-request: no `except Exception` sees it."""


def test_an_api_killed_while_queueing_leaves_its_job_submitting_for_the_sweeper(deps: InMemoryServices) -> None:
    sent = deps.queue.send

    def die_after_first_batch(bodies: list[str]) -> None:
        sent(bodies[:1])
        raise Killed

    deps.queue.send = die_after_first_batch  # type: ignore[method-assign]
    with pytest.raises(Killed):
        api_job(deps, ["a", "bb", "ccc"])
    [job] = deps.jobs.records.values()
    assert (job.status, job.submitting, job.aborted, job.job_id in deps.jobs.open) == ("queued", True, False, True)


def test_a_job_the_queue_refused_is_neither_submitting_nor_open(deps: InMemoryServices) -> None:
    deps.queue.accept = 1
    with pytest.raises(VectorizerError):
        api_job(deps, ["a", "bb", "ccc"])
    [job] = deps.jobs.records.values()
    assert (job.status, job.submitting, job.aborted, deps.jobs.open) == ("failed", False, True, set())


PAIRS = [
    (ports.JobStorePort, JobStore, InMemoryJobStore),
    (ports.StalledJobsPort, JobStore, InMemoryJobStore),
    (ports.VectorStorePort, VectorStore, InMemoryVectorStore),
    (ports.WorkQueuePort, ChunkQueue, InMemoryQueue),
    (ports.EmbedderPort, HuggingFaceClient, FakeEmbedder),
    (ports.TokenSealerPort, TokenSealer, FakeSealer),
    (ports.DefaultTokenPort, DefaultToken, FakeDefaultToken),
]


def shape(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(("port", "deployed", "fake"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_the_deployed_class_and_the_fake_offer_each_port_method_with_its_parameters(
    port: type, deployed: type, fake: type
) -> None:
    methods = [name for name, value in vars(port).items() if inspect.isfunction(value) and not name.startswith("_")]
    assert methods
    for name in methods:
        expected = shape(getattr(port, name))
        assert shape(getattr(deployed, name)) == expected, (deployed.__name__, name)
        assert shape(getattr(fake, name)) == expected, (fake.__name__, name)
        is_async = inspect.iscoroutinefunction(getattr(port, name))
        assert inspect.iscoroutinefunction(getattr(deployed, name)) == is_async
        assert inspect.iscoroutinefunction(getattr(fake, name)) == is_async


def test_the_wiring_holds_every_dependency_the_job_service_names() -> None:
    members = {name for name, value in vars(ports.JobDependencies).items() if isinstance(value, property)}
    assert members == {"settings", "hf", "jobs", "vectors", "queue", "sealer", "default_token", "events"}
    assert members <= set(Services.__dataclass_fields__)
    assert members <= set(InMemoryServices.__dataclass_fields__)


def test_the_job_service_does_not_import_the_wiring() -> None:
    tree = ast.parse(Path(inspect.getfile(service)).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "vectorizer.services" not in imported
    assert "vectorizer.jobs.ports" in imported


def test_a_signature_covers_the_whole_message_in_any_key_order() -> None:
    original = signed(message(total=3, chunks=1, sealed_token="c2VhbGVk"), "k" * 64)
    reordered = ChunkMessage.model_validate(dict(reversed(list(json.loads(original.to_json()).items()))))
    assert signature_matches(reordered, "k" * 64)
    assert not signature_matches(reordered, "j" * 64)
    assert not signature_matches(original.model_copy(update={"purpose": "query"}), "k" * 64)
    # Values at their defaults, spelled out or not, sign the same: a schema may grow defaulted fields.
    spelled = json.loads(original.to_json()) | {"version": 1, "purpose": "passage"}
    spelled["config"] = {"model": MODEL, "options": {"waitForModel": False, "useGPU": False, "useCache": True}}
    assert signature_matches(ChunkMessage.model_validate(spelled), "k" * 64)
