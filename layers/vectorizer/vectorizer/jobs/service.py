"""Bulk jobs: splitting a request into queued chunks, working one chunk, reporting a job.

Working a chunk is idempotent per (job, chunk): vectors are keyed by index, so a redelivery
overwrites rather than adds, and the counters move in one transaction with the chunk's marker,
so they move once. Nothing accepted is dropped: a chunk that failed for a passing reason goes
back to the queue, and on its last delivery (or at once, when no retry can help) its items are
recorded as failed with the reason, so the job still ends and says which items have no vector.
A job whose chunks could not all be queued is marked failed, and its chunks already queued are
skipped; a chunk number that comes again with other items is a producer's error, refused.

A message only ever touches its own job: the chunks of a job the API created are signed with a
key kept in its record, and a message for such a job without that signature is refused; a chunk
number or item index outside the job as recorded (not as the message says) is refused too. The
worker parks what is refused, and nothing of it is stored or counted.

A chunk is counted from what is stored: an item with a stored vector (from this run, an earlier
delivery, or a write that failed half-way) is never recorded as failed. A chunk that died on the
queue (its last delivery failed to record it, or timed out) is recorded by the dead-letter
queue's consumer (`close_dead_chunk`); if it is redriven later and stores more vectors, the
chunk is counted again over its marker (`recount_chunk`): its items turn from failed to stored
and the job's counters move by the difference, never twice.

A chunk's time is its HF time: its distinct texts go to HF in batches awaited side by side, and
each batch's vectors are written (on a bounded pool of threads, WRITE_CONCURRENCY per container)
while the other batches are still at HF; the store is flushed once before the chunk is counted.
What the chunk asked of HF (`HfUsage`, the chunk's own dedupe included) is added to the job's
counters with its counts, so a chunk counted once adds it once. An item that arrives with an
`error` (a producer could not read it) is never sent to HF and is recorded failed with that error.

Every entry point takes its dependencies as `ports.JobDependencies`, never the wiring itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from vectorizer import aio
from vectorizer.batch_write import MAX_BATCH_ITEMS, UnprocessedItemsError
from vectorizer.config import ModuleConfig, Purpose, Target, check_callback_allowed, resolve_target
from vectorizer.credentials import NO_DEFAULT_TOKEN
from vectorizer.errors import HuggingFaceError, MissingTokenError, VectorizerError
from vectorizer.hf.client import hf_batches, redact
from vectorizer.hf.usage import HfUsage
from vectorizer.jobs.job_store import (
    CLOSED_BY_DEAD_LETTER,
    CLOSED_BY_WORKER,
    ChunkMarker,
    ItemError,
    JobRecord,
    items_fingerprint,
)
from vectorizer.jobs.message import (
    ChunkItem,
    ChunkMessage,
    envelope_size,
    plan_chunks,
    repeats_together,
    signature_matches,
    signed,
)
from vectorizer.jobs.notifications import notify_if_ended
from vectorizer.jobs.ports import JobDependencies, VectorStorePort
from vectorizer.jobs.stage_clock import DYNAMO, HF, StageClock, StageTimes, timed
from vectorizer.jobs.vector_store import StoredVector
from vectorizer.settings import Settings

logger = logging.getLogger(__name__)

QUEUE_UNREACHABLE = "the work queue could not be reached"
# An item without a vector and without an error of its own (never expected: said plainly if it happens).
NO_VECTOR = "no vector was stored for this item"


class ChunkRetryLater(Exception):
    """The chunk hit a passing HF failure; let the queue deliver it again later."""

    def __init__(self, error: HuggingFaceError) -> None:
        super().__init__(error.message)
        self.error = error


class ChunkConflictError(VectorizerError):
    """The chunk's number was counted already for other items: a producer's error no retry fixes."""

    status = 409
    code = "chunk_conflict"


class ChunkForgedError(VectorizerError):
    """A message for a job the API created that does not carry the API's signature for it."""

    status = 403
    code = "chunk_not_signed"


class ChunkOutOfBoundsError(VectorizerError):
    """A chunk number or item index that the job, as recorded, does not have."""

    status = 409
    code = "chunk_out_of_bounds"


@dataclass(frozen=True)
class QueuedJob:
    """A job recorded and all its chunks on the queue."""

    job_id: str
    total: int
    chunks: int


@dataclass(frozen=True)
class ChunkReport:
    job_id: str
    chunk: int
    succeeded: int
    failed: int
    duplicate: bool
    job_status: str | None
    # The job was given up on (its chunks could not all be queued): acknowledged, not worked.
    skipped: bool = False
    # Why the whole chunk failed, when it did (no retry could help, or this was its last delivery).
    reason: str | None = None
    # Where the chunk's time went (HF, DynamoDB, own CPU), for the worker's log line and metrics.
    # A measurement, not an outcome: two reports of the same work are equal whatever it took.
    times: StageTimes = field(default_factory=StageTimes, compare=False)
    # What this run asked of HF and what the cache and dedupe saved: added to the job's counters
    # with the chunk's counts (zero for a duplicate, a skipped chunk or one closed unworked).
    usage: HfUsage = field(default_factory=HfUsage)


@dataclass
class _Progress:
    """How far a chunk got, so that a chunk failing late keeps what it already stored."""

    written: list[StoredVector] = field(default_factory=list)
    item_errors: dict[int, ItemError] = field(default_factory=dict)
    # What the chunk asked of HF so far (the content cache's and the chunk's own dedupe included).
    usage: HfUsage = field(default_factory=HfUsage)


def new_job_id() -> str:
    """A fresh, unguessable job id (32 hex characters)."""
    return uuid.uuid4().hex


def new_signing_key() -> str:
    """A fresh random key for one job's chunk signatures (256 bits, hex)."""
    return secrets.token_hex(32)


def _send_failure(error: Exception) -> str:
    if isinstance(error, VectorizerError):
        return error.message
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "unknown error")
    return type(error).__name__


def submit_job(
    services: JobDependencies,
    *,
    config: ModuleConfig,
    purpose: Purpose,
    texts: list[str],
    ids: list[str | None] | None,
    token: str,
    token_is_callers: bool,
    model: str,
    owner: str,
    callback_url: str | None = None,
) -> QueuedJob:
    """Record the job, then queue its chunks, each signed with the job's key; returns the job queued.

    The job is recorded `submitting` until every chunk is on the queue: if this process dies
    in between, the sweeper (`jobs.sweeper`) soon closes it as failed, saying why. A caller's own
    token is sealed (under the job id), never plain; the default token is not
    sent at all. Raises a 503 `queue_unavailable` naming the job, which is marked failed, when
    the queue does not take every chunk.

    `owner` is the caller's identity (`vectorizer.api.ownership`): only it may read the job.
    `callback_url`, if given, is called when the job ends (`jobs.callbacks`); one outside
    `CALLBACK_ALLOWED_HOSTS` is refused (403 `callback_not_allowed`) before anything is recorded.
    """
    settings = services.settings
    check_callback_allowed(callback_url, settings)
    job_id = new_job_id()
    signing_key = new_signing_key()
    sealed = services.sealer.seal(token, job_id) if token_is_callers else None
    items = [
        ChunkItem(index=i, id=(ids[i] if ids is not None else None), text=text)
        for i, text in enumerate(texts)
    ]
    # The signature's size counts towards each message's, so the shell carries a stand-in.
    shell = ChunkMessage(
        job_id=job_id, chunk=0, chunks=1, total=len(items), config=config, purpose=purpose,
        items=items[:1], sealed_token=sealed, signature="0" * 64,
    )
    planned = plan_chunks(
        repeats_together(items), chunk_size=settings.chunk_size, max_message_bytes=settings.max_message_bytes,
        envelope_bytes=envelope_size(shell), keep_repeats_together=True,
    )
    bodies = [
        signed(shell.model_copy(update={"chunk": n, "chunks": len(planned), "items": chunk}), signing_key).to_json()
        for n, chunk in enumerate(planned)
    ]
    services.jobs.create(
        job_id, total=len(items), chunks=len(planned), model=model, signing_key=signing_key, owner=owner,
        callback_url=callback_url,
    )
    try:
        services.queue.send(bodies)
    except Exception as error:  # refused, throttled past boto3's retries, unreachable...
        detail = _send_failure(error)
        try:
            # Chunks of earlier batches may be on the queue already: the worker skips them.
            services.jobs.mark_failed(job_id, f"{QUEUE_UNREACHABLE}: {detail}")
            marked = "it is marked failed"
            notify_if_ended(services, job_id)
        except Exception:
            logger.exception("could not mark job %s failed after its chunks could not be queued", job_id)
            marked = "do not wait for it"
        raise VectorizerError(
            f"job {job_id} could not be started: {QUEUE_UNREACHABLE} ({detail}); {marked}, "
            "submit the texts again later",
            status=503, code="queue_unavailable",
        ) from error
    try:
        services.jobs.mark_submitted(job_id)
    except Exception:
        # Every chunk is queued and the caller gets its job; only the sweeper's quicker bound for
        # jobs still submitting may now close it early, if none of its chunks is counted in time.
        logger.exception("could not note that job %s has all its chunks queued", job_id)
    return QueuedJob(job_id=job_id, total=len(items), chunks=len(planned))


def _check_origin(job: JobRecord, message: ChunkMessage) -> None:
    """Refuse a message for an API job unless it carries that job's signature.

    A producer's job (or one recorded before origins were kept) takes unsigned messages: its
    producer is the only one who knows its id, as before.
    """
    if not job.from_api:
        return
    refused = f"chunk {message.chunk} of job {message.job_id} is refused"
    if message.signature is None:
        raise ChunkForgedError(
            f"{refused}: the job was created by the API and the message carries no signature from it"
        )
    if not job.signing_key or not signature_matches(message, job.signing_key):
        raise ChunkForgedError(f"{refused}: its signature does not match the job it names")


def _check_bounds(job: JobRecord, message: ChunkMessage) -> None:
    """Refuse a chunk that does not fit the job as recorded: the message's own numbers may lie."""
    refused = f"chunk {message.chunk} of job {message.job_id} is refused"
    if job.chunks is not None:
        if message.chunks is not None and message.chunks != job.chunks:
            raise ChunkOutOfBoundsError(
                f"{refused}: the message says the job has {message.chunks} chunks, the job has {job.chunks}"
            )
        if message.chunk >= job.chunks:
            raise ChunkOutOfBoundsError(
                f"{refused}: the job has {job.chunks} chunks (numbered 0 to {job.chunks - 1})"
            )
    if job.total is not None:
        if message.total is not None and message.total != job.total:
            raise ChunkOutOfBoundsError(
                f"{refused}: the message says the job has {message.total} items, the job has {job.total}"
            )
        past = [item.index for item in message.items if item.index >= job.total]
        if past:
            raise ChunkOutOfBoundsError(
                f"{refused}: item index {past[0]} is past the job's {job.total} items "
                f"(numbered 0 to {job.total - 1})"
            )


def check_chunk_of_job(job: JobRecord, message: ChunkMessage) -> None:
    """Takes a job as recorded and a message for it; returns nothing, raises `ChunkForgedError` or
    `ChunkOutOfBoundsError` (4xx) if the message may not touch that job."""
    _check_origin(job, message)
    _check_bounds(job, message)


def _marker(services: JobDependencies, message: ChunkMessage, fingerprint: str) -> ChunkMarker | None:
    """This very chunk's marker if it was counted, else None; a conflict if its number was counted for other items."""
    seen = services.jobs.chunk_marker(message.job_id, message.chunk)
    if seen is not None and seen.fingerprint and seen.fingerprint != fingerprint:
        raise ChunkConflictError(
            f"chunk {message.chunk} of job {message.job_id} was already processed with other items"
        )
    return seen


def _token(services: JobDependencies, message: ChunkMessage, target: Target) -> str:
    """The caller's sealed token, else the default where it may go (never a producer's endpointURL)."""
    if message.sealed_token:
        return services.sealer.unseal(message.sealed_token, message.job_id)
    try:
        return services.default_token.for_destination(target.url)
    except MissingTokenError as missing:
        # The operator reads this in the job's errors: name the settings that would give a default.
        hint = " (HUGGINGFACE_APIKEY or HUGGINGFACE_APIKEY_SECRET_ARN)" if missing.message == NO_DEFAULT_TOKEN else ""
        raise MissingTokenError(
            f"no Hugging Face token: the message carries no sealed token and {missing.message}{hint}"
        ) from None


def _retryable(error: Exception) -> bool:
    """Whether another delivery may succeed where this one failed."""
    if isinstance(error, HuggingFaceError):
        return error.retryable
    if isinstance(error, VectorizerError):
        return error.status >= 500
    # A token with characters no HTTP header can carry fails the same way every time.
    return not isinstance(error, UnicodeError)


def failure_text(error: Exception) -> str:
    """Takes an exception; returns what may be said of it in a log line or an item's error (no token:
    an unknown error is named by its type only). Cut at 1,000 characters."""
    return _reason(error, None, prefix=False)


def _reason(error: Exception, token: str | None, *, prefix: bool = True) -> str:
    """Why a chunk failed, for its items' errors: never the token, nor an unknown error's text."""
    if isinstance(error, VectorizerError):
        text = error.message
    elif isinstance(error, UnicodeEncodeError) and token is not None and not token.isascii():
        text = "the Hugging Face token has characters an HTTP header cannot carry (it must be ASCII)"
    elif isinstance(error, ClientError):
        failure = error.response.get("Error", {})
        text = f"{error.operation_name} failed: {failure.get('Code', 'unknown')} {failure.get('Message', '')}".strip()
    elif isinstance(error, UnprocessedItemsError | BotoCoreError):
        text = str(error)
    else:
        # Other exceptions may quote what they choked on (a header, say): name the type only.
        text = f"the chunk could not be processed ({type(error).__name__})"
    if prefix and _retryable(error):
        text = f"still failing on its last delivery: {text}"
    return redact(text, token)[:1000]


class _TimedDependencies:
    """The job service's dependencies with every HF call timed as the HF stage and every call of
    the DynamoDB stores (vectors, counters, markers, errors) as the DynamoDB stage."""

    def __init__(self, services: JobDependencies, clock: StageClock) -> None:
        self._services = services
        self.hf = timed(services.hf, clock, HF)
        self.jobs = timed(services.jobs, clock, DYNAMO)
        self.vectors = timed(services.vectors, clock, DYNAMO)

    def __getattr__(self, name: str) -> object:
        return getattr(self._services, name)


def _storing_for(services: JobDependencies, job: JobRecord, chunk: int) -> JobDependencies:
    """The dependencies a chunk of `job` stores through: a file job's chunk is one shard in S3
    (every put, flush and lookup goes to it); any other keeps the (timed) vectors table."""
    if not job.writes_files:
        return services
    return _WithVectors(services, services.vector_store_for(job, chunk))


class _WithVectors:
    """The job service's dependencies with `vectors` replaced (a file job's chunk: its shard)."""

    def __init__(self, services: JobDependencies, vectors: VectorStorePort) -> None:
        self._services = services
        self.vectors = vectors

    def __getattr__(self, name: str) -> object:
        return getattr(self._services, name)


def process_chunk(
    services: JobDependencies, message: ChunkMessage, *, final_attempt: bool, deadline: float,
    clock: StageClock | None = None,
) -> ChunkReport:
    """Vectorize and store one chunk before `deadline` (`time.monotonic()`); returns what it did,
    with `times`: how long it waited on HF and on DynamoDB, its CPU time and its wall time, read
    from `clock` (default: a new one on the process's own clocks).

    `final_attempt` says this is the message's last delivery. Raises `ChunkRetryLater` (or
    the error itself) to have it delivered again, which only happens before its last delivery
    and for errors a retry may fix; otherwise the chunk's items are recorded as failed with the
    reason, and the chunk is counted. A 4xx `VectorizerError`, for the caller to park the
    message, is raised for a config no retry fixes, a message for an API job without its
    signature (`ChunkForgedError`), a chunk number or item index the job does not have
    (`ChunkOutOfBoundsError`), or a chunk number reused for other items (`ChunkConflictError`).
    """
    clock = clock or StageClock()
    report = _process_chunk(
        _TimedDependencies(services, clock), message, final_attempt=final_attempt, deadline=deadline
    )
    return replace(report, times=clock.times())


def _process_chunk(
    services: JobDependencies, message: ChunkMessage, *, final_attempt: bool, deadline: float
) -> ChunkReport:
    """`process_chunk` on dependencies whose stages are timed; its report without `times`."""
    target = resolve_target(message.config, message.purpose, services.settings)
    job_id = message.job_id
    # `start` is the read that tells whose job this is: a forged message may mark a queued job
    # running (as its own first chunk would), but it changes no count, no vector, no error.
    job = services.jobs.start(job_id, model=target.model, total=message.total, chunks=message.chunks)
    check_chunk_of_job(job, message)
    if job.aborted:
        return ChunkReport(job_id, message.chunk, 0, 0, duplicate=False, job_status=job.status, skipped=True)
    services = _storing_for(services, job, message.chunk)
    fingerprint = items_fingerprint(item.index for item in message.items)
    marker = _marker(services, message, fingerprint)
    if marker is not None and marker.failed == 0:
        # Counted already; the job may still need closing if we died right after counting.
        status = services.jobs.finish_if_complete(job_id)
        if status is not None:
            notify_if_ended(services, job_id)
        return ChunkReport(job_id, message.chunk, 0, 0, duplicate=True, job_status=status)
    # Not counted yet, or counted with failed items (the chunk was redriven): work what has no vector.

    token: str | None = None
    # Items a producer sent failed (a malformed line) keep exactly their own error, whatever else happens.
    progress = _Progress(item_errors={
        item.index: ItemError(index=item.index, id=item.id, error=item.error, line=item.line)
        for item in message.items if item.error is not None
    })
    try:
        if any(item.error is None for item in message.items):
            token = _token(services, message, target)
        return _work(
            services, message, target, token, fingerprint, progress, final_attempt, deadline, job.dimensions,
            marker,
        )
    except (ChunkRetryLater, ChunkConflictError):
        raise
    except Exception as error:
        if _retryable(error) and not final_attempt:
            raise
        # If recording this failure raises too (DynamoDB throttled), the error goes to the worker,
        # which hands the message back: SQS then moves it to the dead-letter queue, whose
        # consumer records it (`close_dead_chunk`).
        return _fail_chunk(services, message, fingerprint, progress, _reason(error, token), marker)


def close_dead_chunk(services: JobDependencies, message: ChunkMessage, reason: str) -> ChunkReport:
    """Record a chunk that reached the dead-letter queue: returns what was recorded.

    Takes the message and why it died. Under the worker's own guards (a 4xx `ChunkForgedError`,
    `ChunkOutOfBoundsError` or `ChunkConflictError` if the message may not touch the job it
    names), every item of the chunk without a stored vector is recorded as failed with
    `reason`, the chunk is counted once (its marker says the dead-letter queue closed it), and
    the job closes if it is complete. Consuming the same message again changes nothing
    (`duplicate=True`); a chunk of a job given up on is `skipped`.
    """
    try:
        model = resolve_target(message.config, message.purpose, services.settings).model
    except VectorizerError:
        # A config refused by the worker too: the job still gets recorded, under what the message names.
        model = message.config.model or message.config.passage_model or message.config.endpoint_url or ""
    job = services.jobs.start(message.job_id, model=model, total=message.total, chunks=message.chunks)
    check_chunk_of_job(job, message)
    if job.aborted:
        return ChunkReport(message.job_id, message.chunk, 0, 0, duplicate=False, job_status=job.status, skipped=True)
    services = _storing_for(services, job, message.chunk)
    fingerprint = items_fingerprint(item.index for item in message.items)
    marker = _marker(services, message, fingerprint)
    report = _settle(
        services, message, fingerprint, _Progress(), marker, closed_by=CLOSED_BY_DEAD_LETTER, reason=reason
    )
    return replace(report, reason=reason)


def _settle(
    services: JobDependencies, message: ChunkMessage, fingerprint: str, progress: _Progress,
    marker: ChunkMarker | None, *, closed_by: str, reason: str = NO_VECTOR,
) -> ChunkReport:
    """Count the chunk from what is stored: its items with a vector succeeded, the others failed
    (with their own error, else `reason`). Counts it once, or again over `marker` when more of
    its items are stored now; closes (or restates) the job. Returns what it counted.
    """
    job_id = message.job_id
    written = {vector.index for vector in progress.written}
    unwritten = [item.index for item in message.items if item.index not in written]
    # A vector an earlier delivery stored, or a write that failed half-way, counts: an item
    # with a vector is never recorded as failed.
    stored = written | (services.vectors.stored_indexes(job_id, unwritten) if unwritten else set())
    failures = [
        progress.item_errors.get(item.index) or ItemError(index=item.index, id=item.id, error=reason, line=item.line)
        for item in message.items
        if item.index not in stored
    ]
    succeeded, failed = len(message.items) - len(failures), len(failures)
    dimensions = len(progress.written[0].vector) if progress.written else None
    if marker is None:
        services.jobs.record_errors(job_id, failures)
        counted = services.jobs.count_chunk(
            job_id, message.chunk, fingerprint=fingerprint, succeeded=succeeded, failed=failed,
            dimensions=dimensions, closed_by=closed_by, usage=progress.usage,
        )
        # Not counted: a redelivery raced this one, or another message took the number (a conflict).
        if not counted:
            _marker(services, message, fingerprint)
    elif (marker.succeeded, marker.failed) == (succeeded, failed):
        counted = False  # no more of it is stored than when it was counted: nothing to change
    else:
        # Errors first: each one deleted belongs to an item that has its vector, whatever happens
        # next, and a transaction could not hold a whole chunk's deletes (100 actions at most).
        services.jobs.clear_errors(job_id, sorted(stored))
        services.jobs.record_errors(job_id, failures)
        counted = services.jobs.recount_chunk(
            job_id, message.chunk, seen=marker, succeeded=succeeded, failed=failed, dimensions=dimensions,
            usage=progress.usage,
        )
    status = services.jobs.finish_if_complete(job_id)
    if status is not None:
        notify_if_ended(services, job_id)
    return ChunkReport(
        job_id, message.chunk, succeeded, failed, duplicate=not counted, job_status=status,
        usage=progress.usage if counted else HfUsage(),
    )


def _work(
    services: JobDependencies, message: ChunkMessage, target: Target, token: str | None, fingerprint: str,
    progress: _Progress, final_attempt: bool, deadline: float, job_dimensions: int | None = None,
    marker: ChunkMarker | None = None,
) -> ChunkReport:
    """Embed the chunk's items that still need a vector, storing each HF batch as it comes back;
    returns the chunk's report once it is counted. Raises `ChunkRetryLater` for a passing HF
    failure before the last delivery (the vectors stored meanwhile stay: they are keyed by index)."""
    items = [item for item in message.items if item.error is None]
    if marker is not None and items:
        # Counted before with failed items: only those without a vector go to HF again.
        done = services.vectors.stored_indexes(message.job_id, [item.index for item in items])
        items = [item for item in items if item.index not in done]
    if items:
        pipeline = _Pipeline(services, message, target, token, deadline, progress, job_dimensions)
        aio.run(pipeline.run(items))
        passing = [error for error in pipeline.errors if error.retryable]
        if passing and not final_attempt:
            raise ChunkRetryLater(passing[0])
    return _settle(services, message, fingerprint, progress, marker, closed_by=CLOSED_BY_WORKER)


@functools.cache
def _write_pool(size: int) -> ThreadPoolExecutor:
    """The container's threads for vector writes: at most `size` `put` calls run at once, whichever
    chunk they belong to. One pool per size (settings do not change in a container)."""
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="vector-write")


def _chunk_usage(items: list[ChunkItem], distinct: list[str], batches: list[list[int]], settings: Settings) -> HfUsage:
    """What deduplicating the chunk saved before any call: its repeated texts count as asked
    (`texts`) but not sent, and the requests they would have cost as saved."""
    undeduplicated = hf_batches([item.text for item in items], settings)
    return HfUsage(texts=len(items) - len(distinct), requests_saved=len(undeduplicated) - len(batches))


class _Pipeline:
    """One chunk's HF batches, each stored as soon as HF answers it, all on the one event loop.

    Every batch goes to `services.hf.embed` at once (the HF client's own concurrency limit paces
    them); a batch's vectors are written on the write pool while the other batches are still at
    HF. A repeated text goes to HF once; its vector is stored for every item holding it. Widths:
    the job's dimensions when known, else the first width a batch of this chunk comes back with
    (batches are stored before the chunk's majority width could be known); a batch of another
    width fails its items with the reason and is not stored.
    """

    def __init__(
        self, services: JobDependencies, message: ChunkMessage, target: Target, token: str | None, deadline: float,
        progress: _Progress, job_dimensions: int | None,
    ) -> None:
        self._services = services
        self._message = message
        self._target = target
        self._token = token
        self._deadline = deadline
        self._progress = progress
        self._width = job_dimensions or None
        self._width_from = "this job's other vectors"
        self.errors: list[HuggingFaceError] = []
        self._unstored: list[StoredVector] = []  # vectors HF answered, not yet in a page sent to the store

    async def run(self, items: list[ChunkItem]) -> None:
        """Takes the items to embed; embeds and stores them batch by batch, then flushes the chunk's
        writes. Returns nothing; raises the first error a batch raised, once every batch has ended."""
        settings = self._services.settings
        holders: dict[str, list[ChunkItem]] = {}
        for item in items:
            holders.setdefault(item.text, []).append(item)
        distinct = list(holders)
        batches = hf_batches(distinct, settings)
        self._progress.usage += _chunk_usage(items, distinct, batches, settings)
        # Every batch runs to its end before an error is raised: none is left behind on the loop.
        results = await asyncio.gather(
            *(self._batch([distinct[i] for i in batch], holders) for batch in batches), return_exceptions=True
        )
        if self._unstored:  # the last page, short of a full one
            rest, self._unstored = self._unstored, []
            results.extend(await asyncio.gather(self._store(rest), return_exceptions=True))
        # After every put of the chunk, and before it is counted (or failed): what was stored stays.
        # The content cache's writes run on past it: the worker waits for them once per invocation.
        await self._in_pool(self._services.vectors.flush, self._message.job_id, self._message.chunk)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise failures[0]

    async def _batch(self, texts: list[str], holders: dict[str, list[ChunkItem]]) -> None:
        """Embed one batch of distinct texts, note its errors, store its vectors."""
        outcome = await self._services.hf.embed(self._target, texts, self._token, self._deadline)
        self._progress.usage += getattr(outcome, "usage", None) or HfUsage()
        if self._width is None:
            self._width = outcome.common_width()
            self._width_from = "this chunk's first vectors"
        if self._width is not None:
            # One job, one width: vectors of another width than the job's (or this chunk's first) fail.
            outcome.keep_width(self._width, self._width_from)
        self.errors.extend(error for _, error in sorted(outcome.errors.items()))
        for position, error in sorted(outcome.errors.items()):
            for item in holders[texts[position]]:
                self._progress.item_errors[item.index] = ItemError(
                    index=item.index, id=item.id, error=error.message, line=item.line)
        stored = [
            StoredVector(index=item.index, id=item.id, vector=vector, line=item.line)
            for text, vector in zip(texts, outcome.vectors, strict=True)
            if vector is not None
            for item in holders[text]
        ]
        # Full pages go out as soon as they fill, whichever batch filled them: a BatchWriteItem
        # call takes 25 items, and a batch of 32 alone would need a second call for its last 7.
        self._unstored.extend(stored)
        page = min(MAX_BATCH_ITEMS, self._services.settings.hf_batch_size)
        while len(self._unstored) >= page:
            full, self._unstored = self._unstored[:page], self._unstored[page:]
            await self._store(full)

    async def _store(self, vectors: list[StoredVector]) -> None:
        """Write `vectors` on the write pool (its size bounds the puts in flight across the
        container: a page waits its turn), then note them as stored."""
        await self._in_pool(
            functools.partial(self._services.vectors.put, self._message.job_id, vectors, model=self._target.model)
        )
        self._progress.written.extend(vectors)

    async def _in_pool(self, call: Callable[..., None], *args: Any) -> None:
        """Run a sync store call on the container's write pool, awaiting its end."""
        pool = _write_pool(self._services.settings.write_concurrency)
        await asyncio.get_running_loop().run_in_executor(pool, call, *args)


def _fail_chunk(
    services: JobDependencies, message: ChunkMessage, fingerprint: str, progress: _Progress, reason: str,
    marker: ChunkMarker | None,
) -> ChunkReport:
    """Record every item without a stored vector as failed, count the chunk, close the job if it is done."""
    report = _settle(services, message, fingerprint, progress, marker, closed_by=CLOSED_BY_WORKER, reason=reason)
    return replace(report, reason=reason)
