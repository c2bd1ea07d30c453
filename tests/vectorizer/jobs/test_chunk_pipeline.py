"""A chunk's pipeline: each HF batch stored while the others are still at HF, a bounded number of
writes at once, repeated texts sent once, items that arrive failed, and the usage a job counts.

Every wait here is on an event another step sets, never on a duration, and every figure is exact.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.in_memory import (
    FakeDefaultToken,
    FakeEmbedder,
    InMemoryServices,
    InMemoryVectorStore,
    fake_vector,
)
from vectorizer.api.job_reports import job_status
from vectorizer.config import ModuleConfig, Target
from vectorizer.errors import HuggingFaceError
from vectorizer.hf.client import EmbedOutcome
from vectorizer.hf.usage import HfUsage
from vectorizer.jobs.message import ChunkItem, ChunkMessage
from vectorizer.jobs.service import ChunkReport, ChunkRetryLater, process_chunk, submit_job
from vectorizer.jobs.vector_store import StoredVector
from vectorizer.settings import Settings

MODEL = "org/model"
DEFAULT = "hf_defaultTOKENforUnitTests000"
LOADING = HuggingFaceError("Model org/model is currently loading", status=503, retryable=True)
# How long a blocked step waits for the event that releases it before giving up (so a broken
# pipeline fails the test instead of hanging it); the assertions never depend on it.
GIVE_UP_SECONDS = 5.0


def deps_with(**settings: Any) -> InMemoryServices:
    return InMemoryServices(settings=Settings(**settings), default_token=FakeDefaultToken(DEFAULT))


def chunk(texts: list[str], *, job_id: str = "ext-1", **fields: Any) -> ChunkMessage:
    items = [ChunkItem(index=i, id=f"doc-{i}", text=t) for i, t in enumerate(texts)]
    return ChunkMessage(job_id=job_id, chunk=0, config=ModuleConfig(model=MODEL), items=items, **fields)


def run(deps: InMemoryServices, msg: ChunkMessage, *, final_attempt: bool = False) -> ChunkReport:
    return process_chunk(deps, msg, final_attempt=final_attempt, deadline=time.monotonic() + 30)


@dataclass
class RecordingVectors(InMemoryVectorStore):
    """The in-memory vector store that keeps every `put` it was given and signals each index stored."""

    puts: list[list[StoredVector]] = field(default_factory=list)
    stored_event: dict[int, threading.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def put(self, job_id: str, vectors: list[StoredVector], *, model: str) -> None:
        super().put(job_id, vectors, model=model)
        self.puts.append(list(vectors))
        for vector in vectors:
            self.stored_event.setdefault(vector.index, threading.Event()).set()

    def event(self, index: int) -> threading.Event:
        return self.stored_event.setdefault(index, threading.Event())


class HeldEmbedder:
    """Answers "first" at once; holds "second" at HF until item 0's vector is stored (or gives up)."""

    def __init__(self, vectors: RecordingVectors) -> None:
        self.inner = FakeEmbedder()
        self.vectors = vectors
        self.stored_while_second_at_hf: bool | None = None

    async def embed(self, target: Target, texts: list[str], token: str | None, deadline: float) -> EmbedOutcome:
        if "second" in texts:
            released = self.vectors.event(0)
            loop = asyncio.get_running_loop()
            self.stored_while_second_at_hf = await loop.run_in_executor(None, released.wait, GIVE_UP_SECONDS)
        return await self.inner.embed(target, texts, token, deadline)


def test_a_batch_is_stored_while_the_next_batch_is_still_at_hf() -> None:
    deps = deps_with(HF_BATCH_SIZE=1)
    deps.vectors = RecordingVectors()
    held = HeldEmbedder(deps.vectors)
    deps.hf = held  # type: ignore[assignment]

    report = run(deps, chunk(["first", "second"], total=2, chunks=1))

    # The second batch's answer only came once the first batch's vector was stored.
    assert held.stored_while_second_at_hf is True
    assert [[v.index for v in put] for put in deps.vectors.puts] == [[0], [1]]
    assert (report.succeeded, report.failed, report.job_status) == (2, 0, "succeeded")
    assert deps.vectors.stored("ext-1") == {0: fake_vector("first"), 1: fake_vector("second")}
    # The store is flushed once, after every put and before the chunk is counted.
    assert deps.vectors.flushed == [("ext-1", 0)]


class GatedVectors(RecordingVectors):
    """A vector store whose puts each wait until `limit` of them are in flight at once, or every one
    of the `expected` puts has begun (or give up)."""

    def __init__(self, limit: int, expected: int) -> None:
        super().__init__()
        self.limit, self.expected = limit, expected
        self.begun = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.condition = threading.Condition()

    def put(self, job_id: str, vectors: list[StoredVector], *, model: str) -> None:
        with self.condition:
            self.in_flight += 1
            self.begun += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.condition.notify_all()
            self.condition.wait_for(
                lambda: self.in_flight >= self.limit or self.begun == self.expected, timeout=GIVE_UP_SECONDS
            )
        super().put(job_id, vectors, model=model)
        with self.condition:
            self.in_flight -= 1


def test_at_most_write_concurrency_puts_are_in_flight_at_once() -> None:
    deps = deps_with(HF_BATCH_SIZE=1, WRITE_CONCURRENCY=2)
    deps.vectors = GatedVectors(limit=2, expected=6)
    texts = ["t0", "t1", "t2", "t3", "t4", "t5"]

    report = run(deps, chunk(texts, total=6, chunks=1))

    assert deps.vectors.most_in_flight == 2
    assert len(deps.vectors.puts) == 6
    assert (report.succeeded, report.failed) == (6, 0)
    assert deps.vectors.stored("ext-1") == {i: fake_vector(t) for i, t in enumerate(texts)}


def test_a_text_repeated_in_a_chunk_goes_to_hf_once_and_the_usage_counts_what_that_saved() -> None:
    deps = deps_with(HF_BATCH_SIZE=2)
    texts = ["a", "b", "a", "c", "a", "b", "c", "a", "b", "a"]

    report = run(deps, chunk(texts, total=10, chunks=1))

    assert [call[1] for call in deps.hf.calls] == [("a", "b"), ("c",)]
    assert deps.vectors.stored("ext-1") == {i: fake_vector(t) for i, t in enumerate(texts)}
    # 10 texts asked, 3 sent in 2 requests; without the dedupe they would have taken 5.
    usage = HfUsage(texts=10, cache_hits=0, sent=3, requests=2, requests_saved=3)
    assert report == ChunkReport("ext-1", 0, 10, 0, duplicate=False, job_status="succeeded", usage=usage)
    assert deps.jobs.get("ext-1", max_errors=0).usage == usage


def test_an_item_that_arrives_failed_is_recorded_with_its_own_error_and_never_reaches_hf() -> None:
    deps = deps_with()
    items = [
        ChunkItem(index=0, id="doc-0", text="fine", line=16),
        ChunkItem(index=1, id=None, text="", error="line 17: not valid JSON (Expecting value)", line=17),
        ChunkItem(index=2, id="doc-2", text="also fine", line=18),
    ]
    deps.vectors = RecordingVectors()
    msg = ChunkMessage(job_id="ext-1", chunk=0, total=3, chunks=1, config=ModuleConfig(model=MODEL), items=items)

    report = run(deps, msg)

    assert [call[1] for call in deps.hf.calls] == [("fine", "also fine")]
    assert (report.succeeded, report.failed, report.job_status) == (2, 1, "partial")
    record = deps.jobs.get("ext-1", max_errors=10)
    assert [(e.index, e.id, e.error) for e in record.errors] == [
        (1, None, "line 17: not valid JSON (Expecting value)")]
    # The line of each stored item reaches the store with its vector.
    assert deps.vectors.puts == [[
        StoredVector(0, "doc-0", fake_vector("fine"), line=16),
        StoredVector(2, "doc-2", fake_vector("also fine"), line=18),
    ]]
    assert report.usage == HfUsage(texts=2, sent=2, requests=1)


def test_a_chunk_whose_items_all_arrive_failed_needs_no_token_and_calls_nothing() -> None:
    deps = InMemoryServices(settings=Settings(), default_token=FakeDefaultToken(None))
    items = [ChunkItem(index=0, text="", error="line 1: empty"), ChunkItem(index=1, text="", error="line 2: empty")]
    msg = ChunkMessage(job_id="ext-1", chunk=0, total=2, chunks=1, config=ModuleConfig(model=MODEL), items=items)

    report = run(deps, msg)

    assert (report.succeeded, report.failed, report.job_status, report.usage) == (0, 2, "failed", HfUsage())
    assert deps.hf.calls == []
    assert [e.error for e in deps.jobs.get("ext-1", max_errors=10).errors] == ["line 1: empty", "line 2: empty"]


def test_a_redelivered_chunk_adds_its_usage_to_the_job_once() -> None:
    deps = deps_with(HF_BATCH_SIZE=1)
    msg = chunk(["a", "b"], total=2, chunks=1)
    deps.hf.refuse["b"] = LOADING
    try:
        run(deps, msg)
        raise AssertionError("a passing failure before the last delivery must hand the chunk back")
    except ChunkRetryLater:
        pass
    # Handed back: nothing counted yet, usage included.
    assert deps.jobs.get("ext-1", max_errors=0).usage == HfUsage()

    deps.hf.refuse.clear()
    counted = run(deps, msg)
    again = run(deps, msg)

    assert counted.usage == HfUsage(texts=2, sent=2, requests=2)
    assert (again.duplicate, again.usage) == (True, HfUsage())
    assert deps.jobs.get("ext-1", max_errors=0).usage == HfUsage(texts=2, sent=2, requests=2)


def test_a_redriven_chunk_adds_the_usage_of_the_items_it_sent_again() -> None:
    deps = deps_with(HF_BATCH_SIZE=1)
    msg = chunk(["a", "b"], total=2, chunks=1)
    deps.hf.refuse["b"] = LOADING
    run(deps, msg, final_attempt=True)  # counted with "b" failed
    deps.hf.refuse.clear()

    redriven = run(deps, msg)

    assert [call[1] for call in deps.hf.calls] == [("a",), ("b",), ("b",)]
    assert redriven.usage == HfUsage(texts=1, sent=1, requests=1)
    assert deps.jobs.get("ext-1", max_errors=0).usage == HfUsage(texts=3, sent=3, requests=3)


def test_a_batch_of_another_width_than_the_chunks_first_fails_its_items_and_is_not_stored() -> None:
    deps = deps_with(HF_BATCH_SIZE=1)
    deps.hf.vector_of = lambda text: [0.5] * len(text)

    report = run(deps, chunk(["de", "abc"], total=2, chunks=1))

    assert (report.succeeded, report.failed) == (1, 1)
    assert deps.vectors.stored("ext-1") == {0: [0.5, 0.5]}
    [error] = deps.jobs.get("ext-1", max_errors=10).errors
    assert (error.index, error.error) == (1, "HF answered 3 dimensions where this chunk's first vectors have 2")


def test_a_jobs_status_shows_what_it_asked_of_hf() -> None:
    deps = deps_with(HF_BATCH_SIZE=2, CHUNK_SIZE=4)
    texts = ["a", "b", "a", "a", "c", "c"]
    queued = submit_job(
        deps, config=ModuleConfig(model=MODEL), purpose="passage", texts=texts, ids=None, token=DEFAULT,
        token_is_callers=False, model=MODEL, owner="caller-1",
    )
    for body in deps.queue.sent:
        run(deps, ChunkMessage.model_validate_json(body))

    status = job_status(deps, queued.job_id, "caller-1")  # type: ignore[arg-type]

    # Chunk 0 ("a", "b", "a", "a"): 2 sent in 1 request, 2 requests without dedupe;
    # chunk 1 ("c", "c"): 1 sent in 1 request, 1 without dedupe.
    assert status.model_dump(mode="json", by_alias=True)["hf"] == {
        "texts": 6, "cacheHits": 0, "hitRatio": 0.0, "sent": 3, "requests": 2, "requestsSaved": 1,
    }
    assert (status.status, status.succeeded) == ("succeeded", 6)


def test_vectors_go_to_the_store_in_full_pages_of_25_whichever_batch_filled_them() -> None:
    deps = deps_with(HF_BATCH_SIZE=32)
    deps.vectors = RecordingVectors()
    texts = [f"t{i}" for i in range(64)]

    report = run(deps, chunk(texts, total=64, chunks=1))

    # Two HF batches of 32: three puts (25, 25, 14), not four (25 + 7, twice).
    assert sorted(len(put) for put in deps.vectors.puts) == [14, 25, 25]
    assert (report.succeeded, deps.vectors.stored("ext-1")) == (64, {i: fake_vector(t) for i, t in enumerate(texts)})
