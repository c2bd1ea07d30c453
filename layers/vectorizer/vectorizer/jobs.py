"""Bulk jobs: splitting a request into queued chunks, working one chunk, reporting a job.

Working a chunk is idempotent per (job, chunk): vectors are keyed by index, so a redelivery
overwrites rather than adds, and the counters move in one transaction with the chunk's marker,
so they move once. Nothing accepted is dropped: a chunk whose HF calls failed for a passing
reason goes back to the queue, and on its last delivery its items are recorded as failed with
the reason, so the job still ends and says which items have no vector.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from . import aio
from .api_models import ItemErrorModel, JobAccepted, JobStatus, VectorItem, VectorsPage
from .config import ModuleConfig, Purpose, resolve_target
from .errors import HuggingFaceError, VectorizerError
from .job_store import ItemError
from .messages import ChunkItem, ChunkMessage, envelope_size, plan_chunks
from .services import Services
from .vector_store import StoredVector


class ChunkRetryLater(Exception):
    """The chunk hit a passing HF failure; let the queue deliver it again later."""

    def __init__(self, error: HuggingFaceError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class ChunkReport:
    job_id: str
    chunk: int
    succeeded: int
    failed: int
    duplicate: bool
    job_status: str | None


def new_job_id() -> str:
    return uuid.uuid4().hex


def submit_job(
    services: Services,
    *,
    config: ModuleConfig,
    purpose: Purpose,
    texts: list[str],
    ids: list[str | None] | None,
    token: str,
    token_is_callers: bool,
    model: str,
) -> JobAccepted:
    """Record the job, then queue its chunks. A caller's own token is sealed, never plain."""
    settings = services.settings
    job_id = new_job_id()
    sealed = services.sealer.seal(token, job_id) if token_is_callers else None
    items = [
        ChunkItem(index=i, id=(ids[i] if ids is not None else None), text=text)
        for i, text in enumerate(texts)
    ]
    shell = ChunkMessage(
        job_id=job_id, chunk=0, chunks=1, total=len(items), config=config, purpose=purpose,
        items=items[:1], sealed_token=sealed,
    )
    planned = plan_chunks(
        items, chunk_size=settings.chunk_size, max_message_bytes=settings.max_message_bytes,
        envelope_bytes=envelope_size(shell),
    )
    bodies = [
        shell.model_copy(update={"chunk": n, "chunks": len(planned), "items": chunk}).to_json()
        for n, chunk in enumerate(planned)
    ]
    services.jobs.create(job_id, total=len(items), chunks=len(planned), model=model)
    try:
        services.queue.send(bodies)
    except VectorizerError as error:
        services.jobs.mark_failed(job_id, error.message)
        raise
    return JobAccepted(job_id=job_id, total=len(items), chunks=len(planned))


def process_chunk(
    services: Services, message: ChunkMessage, *, final_attempt: bool, deadline: float
) -> ChunkReport:
    """Vectorize and store one chunk. Raises `ChunkRetryLater` to have it delivered again."""
    settings = services.settings
    target = resolve_target(message.config, message.purpose, settings)
    job_id = message.job_id
    services.jobs.start(job_id, model=target.model, total=message.total, chunks=message.chunks)
    if services.jobs.chunk_done(job_id, message.chunk):
        # Counted already; the job may still need closing if we died right after counting.
        status = services.jobs.finish_if_complete(job_id)
        return ChunkReport(job_id, message.chunk, 0, 0, duplicate=True, job_status=status)

    if message.sealed_token:
        token = services.sealer.unseal(message.sealed_token, job_id)
    else:
        token = services.default_token.get()
    texts = [item.text for item in message.items]
    outcome = aio.run(services.hf.embed(target, texts, token, deadline))

    passing = [error for error in outcome.errors.values() if error.retryable]
    if passing and not final_attempt:
        raise ChunkRetryLater(passing[0])

    stored = [
        StoredVector(index=item.index, id=item.id, vector=vector)
        for item, vector in zip(message.items, outcome.vectors, strict=True)
        if vector is not None
    ]
    failures = [
        ItemError(index=message.items[pos].index, id=message.items[pos].id, error=error.message)
        for pos, error in sorted(outcome.errors.items())
    ]
    services.vectors.put(job_id, stored, model=target.model)
    services.jobs.record_errors(job_id, failures)
    counted = services.jobs.count_chunk(
        job_id, message.chunk, succeeded=len(stored), failed=len(failures), dimensions=outcome.dimensions
    )
    status = services.jobs.finish_if_complete(job_id)
    return ChunkReport(
        job_id, message.chunk, len(stored), len(failures), duplicate=not counted, job_status=status
    )


def job_status(services: Services, job_id: str) -> JobStatus:
    job = services.jobs.get(job_id, max_errors=services.settings.max_reported_errors)
    return JobStatus(
        job_id=job.job_id,
        status=job.status,
        # A producer that did not say how many items its job has: report what was seen.
        total=job.total if job.total is not None else job.succeeded + job.failed,
        succeeded=job.succeeded,
        failed=job.failed,
        model=job.model,
        dimensions=job.dimensions,
        created_at=job.created_at,
        updated_at=job.updated_at,
        errors=[ItemErrorModel(index=e.index, id=e.id, error=e.error) for e in job.errors],
    )


def job_vectors(services: Services, job_id: str, *, limit: int, next_token: str | None) -> VectorsPage:
    services.jobs.get(job_id, max_errors=0)  # 404 for an unknown job rather than an empty page
    stored, token = services.vectors.page(job_id, limit=limit, next_token=next_token)
    return VectorsPage(
        items=[VectorItem(index=v.index, id=v.id, vector=v.vector) for v in stored], next_token=token
    )
