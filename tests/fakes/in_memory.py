"""In-memory stand-ins for the job service's ports, with the DynamoDB stores' semantics.

`InMemoryJobStore` and `InMemoryVectorStore` behave as `JobStore` and `VectorStore` do on
DynamoDB: a chunk counts once, with its fingerprint, counts and closer in its marker, and is
counted again only over the marker it read; a job closes once, when its
chunks (else its total) are all counted, and an open-ended one restates its status after each
chunk; `mark_failed` gives a job up (`failed` and `aborted`); `start` never reopens a finished
job; a job is open (in `open`, as in the sparse open-jobs index) from its creation or first
start until it closes, and `close_stalled` closes it only if its `updated_at` did not move; item
errors are keyed by index and vectors by (job, index), stored as float32. The same
behaviour tests run against both (tests/vectorizer/jobs/test_store_contract.py), so they cannot
drift apart. The queue, embedder, token and event fakes record what they were given, for assertions.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from botocore.exceptions import ClientError

from vectorizer.codec import decode_vector, encode_vector
from vectorizer.config import Target
from vectorizer.credentials import DefaultToken
from vectorizer.errors import HuggingFaceError, VectorizerError
from vectorizer.hf.client import EmbedOutcome
from vectorizer.hf.usage import HfUsage
from vectorizer.jobs.job_store import (
    API_ORIGIN,
    CLOSED_BY_WORKER,
    FINAL_STATUSES,
    PRODUCER_ORIGIN,
    ChunkMarker,
    ItemError,
    JobRecord,
    final_status,
    job_not_found,
)
from vectorizer.jobs.timestamps import now_iso
from vectorizer.jobs.vector_store import StoredVector, decode_page_token, encode_page_token
from vectorizer.settings import Settings

REASON_LIMIT = 1000


def _condition_failed(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}},
        operation,
    )


class InMemoryJobStore:
    """`JobStore` in a dict: job records, chunk markers (fingerprints) and item errors."""

    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}
        self.markers: dict[tuple[str, int], ChunkMarker] = {}
        self.errors: dict[tuple[str, int], ItemError] = {}
        # The ids of the jobs that carry the open-jobs index attribute.
        self.open: set[str] = set()

    def create(
        self, job_id: str, *, total: int, chunks: int, model: str, signing_key: str, owner: str | None = None,
        callback_url: str | None = None,
    ) -> None:
        """Record an API job, `queued`; refused as DynamoDB refuses it if the id is taken."""
        if job_id in self.records:
            raise _condition_failed("PutItem")
        stamp = now_iso()
        self.records[job_id] = JobRecord(
            job_id=job_id, status="queued", total=total, chunks=chunks, chunks_done=0, succeeded=0, failed=0,
            model=model, dimensions=None, created_at=stamp, updated_at=stamp, origin=API_ORIGIN,
            signing_key=signing_key, owner=owner, callback_url=callback_url, submitting=True,
        )
        self.open.add(job_id)

    def mark_submitted(self, job_id: str) -> None:
        """Every chunk of the job is on the queue: no longer `submitting` (a missing job: nothing)."""
        if job_id in self.records:
            self.records[job_id].submitting = False

    def mark_failed(self, job_id: str, reason: str) -> None:
        """Give the job up: `failed` with the reason, and `aborted`."""
        job = self.records.get(job_id)
        if job is None:  # an update of a missing key writes a bare item, as DynamoDB's does
            job = self.records[job_id] = JobRecord(
                job_id=job_id, status="failed", total=None, chunks=None, chunks_done=0, succeeded=0, failed=0,
                model=None, dimensions=None, created_at="", updated_at="",
            )
        job.status, job.updated_at, job.failure_reason, job.aborted = "failed", now_iso(), reason[:REASON_LIMIT], True
        job.submitting = False
        self.open.discard(job_id)

    def start(self, job_id: str, *, model: str, total: int | None, chunks: int | None) -> JobRecord:
        """Mark the job running (creating a producer's job on first sight); a finished one is only read."""
        stamp = now_iso()
        job = self.records.get(job_id)
        if job is None:
            job = self.records[job_id] = JobRecord(
                job_id=job_id, status="running", total=total, chunks=chunks, chunks_done=0, succeeded=0,
                failed=0, model=model, dimensions=None, created_at=stamp, updated_at=stamp,
                origin=PRODUCER_ORIGIN,
            )
            self.open.add(job_id)
            return replace(job)
        if job.status not in ("queued", "running"):
            return replace(job)
        self.open.add(job_id)
        job.status, job.updated_at = "running", stamp
        job.total = job.total if job.total is not None else total
        job.chunks = job.chunks if job.chunks is not None else chunks
        job.model = job.model if job.model is not None else model
        job.origin = job.origin or PRODUCER_ORIGIN
        return replace(job)

    def chunk_fingerprint(self, job_id: str, chunk: int) -> str | None:
        """The fingerprint chunk `chunk` was counted with, or None."""
        marker = self.markers.get((job_id, chunk))
        return None if marker is None else marker.fingerprint

    def chunk_marker(self, job_id: str, chunk: int) -> ChunkMarker | None:
        """The marker chunk `chunk` was counted with, or None."""
        return self.markers.get((job_id, chunk))

    def record_errors(self, job_id: str, errors: list[ItemError]) -> None:
        """Keep item errors by index (their text cut at 1000 characters)."""
        for error in errors:
            self.errors[(job_id, error.index)] = replace(error, error=error.error[:REASON_LIMIT])

    def clear_errors(self, job_id: str, indexes: list[int]) -> None:
        """Forget the errors of those items (an absent one is no error)."""
        for index in indexes:
            self.errors.pop((job_id, index), None)

    def count_chunk(
        self, job_id: str, chunk: int, *, fingerprint: str, succeeded: int, failed: int, dimensions: int | None,
        closed_by: str = CLOSED_BY_WORKER, usage: HfUsage | None = None,
    ) -> bool:
        """Add the chunk's counts and usage once, with its marker; False if the number was counted already."""
        if (job_id, chunk) in self.markers:
            return False
        self.markers[(job_id, chunk)] = ChunkMarker(fingerprint, succeeded, failed, closed_by)
        self._add(job_id, succeeded, failed, dimensions, chunks_done=1, usage=usage)
        return True

    def recount_chunk(
        self, job_id: str, chunk: int, *, seen: ChunkMarker, succeeded: int, failed: int, dimensions: int | None,
        usage: HfUsage | None = None,
    ) -> bool:
        """Replace the marker if it still holds `seen`'s counts, move the counters by the differences
        and add `usage`."""
        if succeeded + failed != seen.succeeded + seen.failed:
            raise ValueError(
                f"chunk {chunk} of job {job_id} holds {seen.succeeded + seen.failed} items, not {succeeded + failed}"
            )
        marker = self.markers.get((job_id, chunk))
        if marker is None or (marker.succeeded, marker.failed) != (seen.succeeded, seen.failed):
            return False
        self.markers[(job_id, chunk)] = ChunkMarker(seen.fingerprint, succeeded, failed, CLOSED_BY_WORKER)
        self._add(job_id, succeeded - seen.succeeded, failed - seen.failed, dimensions, chunks_done=0, usage=usage)
        return True

    def _add(
        self, job_id: str, succeeded: int, failed: int, dimensions: int | None, *, chunks_done: int,
        usage: HfUsage | None = None,
    ) -> None:
        job = self.records[job_id]
        job.usage = job.usage + (usage or HfUsage())
        job.succeeded += succeeded
        job.failed += failed
        job.chunks_done += chunks_done
        job.updated_at = now_iso()
        if dimensions and job.dimensions is None:
            job.dimensions = dimensions

    def finish_if_complete(self, job_id: str) -> str | None:
        """Close a complete job once, or restate an open-ended one; the status written, if any."""
        job = self.records.get(job_id)
        if job is None or job.aborted:
            return None
        status = final_status(job.succeeded, job.failed)
        restated = job.complete and job.status in FINAL_STATUSES
        if restated and job.status == status:
            return None
        if not job.open_ended and not restated and (job.status in FINAL_STATUSES or not job.complete):
            return None
        if job.open_ended and job.status == status:
            return status
        job.status, job.updated_at = status, now_iso()
        self.open.discard(job_id)
        return status

    def open_jobs_idle_since(self, cutoff: str) -> list[JobRecord]:
        """The open jobs whose `updated_at` is before `cutoff`, as the index projects them."""
        return [
            replace(job, signing_key=None, owner=None, model=None, dimensions=None)
            for job_id, job in sorted(self.records.items())
            if job_id in self.open and job.updated_at < cutoff
        ]

    def close_stalled(self, job_id: str, *, seen_updated_at: str, status: str, missing: int, reason: str) -> bool:
        """Close an open job whose `updated_at` is still `seen_updated_at`; False, untouched, otherwise."""
        job = self.records.get(job_id)
        if job is None or job.updated_at != seen_updated_at or job.status not in ("queued", "running"):
            return False
        job.status, job.failure_reason, job.aborted, job.submitting = status, reason[:REASON_LIMIT], True, False
        job.failed += missing
        job.updated_at = now_iso()
        self.open.discard(job_id)
        return True

    def get(self, job_id: str, *, max_errors: int) -> JobRecord:
        """The job as the API reads it (never its signing key), with up to `max_errors` errors."""
        job = self.records.get(job_id)
        if job is None:
            raise job_not_found(job_id)
        errors = []
        if job.failed and max_errors:
            errors = [e for (owner, _), e in sorted(self.errors.items()) if owner == job_id][:max_errors]
        return replace(job, errors=errors, signing_key=None)


class InMemoryVectorStore:
    """`VectorStore` in a dict keyed by (job, index), vectors kept as the same float32 bytes."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, int], tuple[str | None, bytes, str]] = {}
        # (job, chunk) of every `flush`, in order.
        self.flushed: list[tuple[str, int]] = []

    def put(self, job_id: str, vectors: list[StoredVector], *, model: str) -> None:
        """Write vectors; the same (job, index) again overwrites."""
        for v in vectors:
            self.items[(job_id, v.index)] = (v.id, encode_vector(v.vector), model)

    def flush(self, job_id: str, chunk: int) -> None:
        """Nothing to write (each `put` is kept at once); records the call."""
        self.flushed.append((job_id, chunk))

    def stored_indexes(self, job_id: str, indexes: list[int]) -> set[int]:
        """Those of `indexes` that have a stored vector in the job."""
        return {index for index in indexes if (job_id, index) in self.items}

    def page(self, job_id: str, *, limit: int, next_token: str | None) -> tuple[list[StoredVector], str | None]:
        """Up to `limit` vectors of the job in index order after `next_token`, and the next token."""
        after = decode_page_token(next_token) if next_token else -1
        indexes = sorted(index for owner, index in self.items if owner == job_id and index > after)
        taken = indexes[:limit]
        page = [
            StoredVector(index=i, id=self.items[(job_id, i)][0], vector=decode_vector(self.items[(job_id, i)][1]))
            for i in taken
        ]
        return page, (encode_page_token(taken[-1]) if len(indexes) > limit else None)

    def stored(self, job_id: str) -> dict[int, list[float]]:
        """Every vector of the job by index, as read back."""
        return {v.index: v.vector for v in self.page(job_id, limit=10**9, next_token=None)[0]}


@dataclass
class InMemoryQueue:
    """The work queue: keeps what it was sent; `accept` (when set) is how many bodies it takes."""

    sent: list[str] = field(default_factory=list)
    accept: int | None = None

    def send(self, bodies: list[str]) -> None:
        """Take the bodies, or as many as `accept` allows, then refuse like SQS does (a 503)."""
        room = len(bodies) if self.accept is None else max(0, self.accept - len(self.sent))
        self.sent.extend(bodies[:room])
        if room < len(bodies):
            raise VectorizerError(
                f"the work queue refused {len(bodies) - room} chunk message(s): full",
                status=503, code="queue_unavailable",
            )


def fake_vector(text: str) -> list[float]:
    """A small vector derived from a text, exact in float32."""
    return [float(len(text)), float(sum(map(ord, text)) % 97), 0.5]


@dataclass
class FakeEmbedder:
    """`HuggingFaceClient.embed` without HTTP: per-text refusals, or one failure for every text."""

    refuse: dict[str, HuggingFaceError] = field(default_factory=dict)
    fail_all: HuggingFaceError | None = None
    vector_of: Callable[[str], list[float]] = fake_vector
    calls: list[tuple[str, tuple[str, ...], str | None]] = field(default_factory=list)

    async def embed(self, target: Target, texts: list[str], token: str | None, deadline: float) -> EmbedOutcome:
        """One vector or error per text, in order, and the call's usage (its distinct texts sent in one
        request); records (model, texts, token) of the call."""
        self.calls.append((target.model, tuple(texts), token))
        outcome = EmbedOutcome(vectors=[None] * len(texts))
        # Set as an attribute: the client's outcome carries `usage` once the client counts it.
        outcome.usage = HfUsage(texts=len(texts), sent=len(set(texts)), requests=1 if texts else 0)  # type: ignore[attr-defined]
        for position, text in enumerate(texts):
            error = self.fail_all or self.refuse.get(text)
            if error is not None:
                outcome.errors[position] = error
            else:
                outcome.vectors[position] = self.vector_of(text)
        return outcome


@dataclass
class InMemoryCacheStore:
    """`DynamoCacheStore` without DynamoDB: vectors by key, stored as float32; records every read and write.

    `fail_reads`/`fail_writes` make the next calls raise, as a throttled or missing table would.
    """

    vectors: dict[str, bytes] = field(default_factory=dict)
    reads: list[list[str]] = field(default_factory=list)
    writes: list[list[str]] = field(default_factory=list)
    fail_reads: Exception | None = None
    fail_writes: Exception | None = None

    def get_many(self, keys: list[str]) -> dict[str, list[float]]:
        """The vectors held for `keys`, by key; records the read."""
        self.reads.append(list(keys))
        if self.fail_reads is not None:
            raise self.fail_reads
        return {key: decode_vector(self.vectors[key]) for key in keys if key in self.vectors}

    def put_many(self, vectors: dict[str, list[float]]) -> None:
        """Keeps `vectors` by key, as float32; records the write."""
        self.writes.append(list(vectors))
        if self.fail_writes is not None:
            raise self.fail_writes
        self.vectors.update({key: encode_vector(vector) for key, vector in vectors.items()})


class FakeSealer:
    """`TokenSealer` without KMS: opaque handles bound to one job id, never the token's text."""

    def __init__(self) -> None:
        self._sealed: dict[str, tuple[str, str]] = {}
        self._numbers = itertools.count()

    def seal(self, token: str, job_id: str) -> str:
        """An opaque handle for `token`, which opens only under `job_id`."""
        handle = f"c2VhbGVk{next(self._numbers):08d}"
        self._sealed[handle] = (token, job_id)
        return handle

    def unseal(self, sealed: str, job_id: str) -> str:
        """The token behind the handle; refused as KMS refuses it under another job id."""
        token, bound_to = self._sealed.get(sealed, (None, None))
        if token is None or bound_to != job_id:
            raise VectorizerError("the sealed token does not open under this job id", code="sealed_token_invalid")
        return token


@dataclass
class FakeDefaultToken:
    """The deployment's default token, or None for a deployment without one.

    Where it may go is decided by the real rule (`DefaultToken.for_destination`) under `settings`.
    """

    value: str | None = None
    settings: Settings = field(default_factory=Settings)

    def get(self) -> str | None:
        """The default token, if any."""
        return self.value

    def for_destination(self, url: str) -> str:
        """The default token for a call to `url`, or `MissingTokenError` saying why not."""
        with_token = self.settings.model_copy(update={"default_token": self.value})
        return DefaultToken(with_token, read_secret=lambda arn: "").for_destination(url)


@dataclass
class InMemoryParking:
    """ParkedChunksQueue: keeps each (body, reason) it was given."""

    parked: list[tuple[str, str]] = field(default_factory=list)

    def dead_letter(self, body: str, reason: str) -> None:
        """Keep the body with its reason."""
        self.parked.append((body, reason))


@dataclass
class RecordingEvents:
    """`EventBridgeEvents` that keeps what it was given; with `failure` set, raises it instead."""

    published: list[tuple[str, str]] = field(default_factory=list)
    failure: Exception | None = None

    def publish(self, detail_type: str, detail: str) -> None:
        """Record one event (its type and detail JSON), or raise `failure`."""
        if self.failure is not None:
            raise self.failure
        self.published.append((detail_type, detail))


@dataclass
class InMemoryServices:
    """Every dependency of the job service, in memory (a `ports.JobDependencies`)."""

    settings: Settings = field(default_factory=Settings)
    hf: FakeEmbedder = field(default_factory=FakeEmbedder)
    jobs: InMemoryJobStore = field(default_factory=InMemoryJobStore)
    vectors: InMemoryVectorStore = field(default_factory=InMemoryVectorStore)
    queue: InMemoryQueue = field(default_factory=InMemoryQueue)
    sealer: FakeSealer = field(default_factory=FakeSealer)
    default_token: FakeDefaultToken = field(default_factory=FakeDefaultToken)
    events: RecordingEvents = field(default_factory=RecordingEvents)
