"""What the job service needs from the world, as protocols: stores, queue, embedder, tokens.

`submit_job` and `process_chunk` depend on these shapes only, so they can run on in-memory fakes
in unit tests and on the DynamoDB, SQS, KMS and httpx-backed classes in a deploy. Each protocol
lists only what the service calls; the concrete classes keep the same names and parameters (a
test compares their signatures, so the two cannot drift apart).
"""

from __future__ import annotations

from typing import Protocol

from vectorizer.config import Target
from vectorizer.hf.client import EmbedOutcome
from vectorizer.hf.usage import HfUsage
from vectorizer.jobs.job_store import CLOSED_BY_WORKER, ChunkMarker, ItemError, JobRecord
from vectorizer.jobs.vector_store import StoredVector
from vectorizer.settings import Settings


class JobStorePort(Protocol):
    """Job records: counters, per-chunk markers and item errors (`jobs.job_store.JobStore`)."""

    def create(
        self, job_id: str, *, total: int, chunks: int, model: str, signing_key: str, owner: str | None = None,
        callback_url: str | None = None,
    ) -> None: ...

    def mark_submitted(self, job_id: str) -> None: ...

    def mark_failed(self, job_id: str, reason: str) -> None: ...

    def start(self, job_id: str, *, model: str, total: int | None, chunks: int | None) -> JobRecord: ...

    def chunk_fingerprint(self, job_id: str, chunk: int) -> str | None: ...

    def chunk_marker(self, job_id: str, chunk: int) -> ChunkMarker | None: ...

    def record_errors(self, job_id: str, errors: list[ItemError]) -> None: ...

    def clear_errors(self, job_id: str, indexes: list[int]) -> None: ...

    def count_chunk(
        self, job_id: str, chunk: int, *, fingerprint: str, succeeded: int, failed: int, dimensions: int | None,
        closed_by: str = CLOSED_BY_WORKER, usage: HfUsage | None = None,
    ) -> bool: ...

    def recount_chunk(
        self, job_id: str, chunk: int, *, seen: ChunkMarker, succeeded: int, failed: int, dimensions: int | None,
        usage: HfUsage | None = None,
    ) -> bool: ...

    def finish_if_complete(self, job_id: str) -> str | None: ...

    def get(self, job_id: str, *, max_errors: int) -> JobRecord: ...


class StalledJobsPort(Protocol):
    """What the sweeper reads and writes of the job store (`jobs.job_store.JobStore`)."""

    def open_jobs_idle_since(self, cutoff: str) -> list[JobRecord]: ...

    def close_stalled(self, job_id: str, *, seen_updated_at: str, status: str, missing: int, reason: str) -> bool: ...


class VectorStorePort(Protocol):
    """Vectors keyed by (job, index) (`jobs.vector_store.VectorStore`)."""

    def put(self, job_id: str, vectors: list[StoredVector], *, model: str) -> None: ...

    def flush(self, job_id: str, chunk: int) -> None: ...

    def stored_indexes(self, job_id: str, indexes: list[int]) -> set[int]: ...


class WorkQueuePort(Protocol):
    """Where a job's chunk messages go (`jobs.work_queue.ChunkQueue`)."""

    def send(self, bodies: list[str]) -> None: ...


class ParkingPort(Protocol):
    """Where a dead chunk message is kept for the operator, with its reason (`jobs.work_queue.ChunkQueue`
    whose dead-letter URL is ParkedChunksQueue's)."""

    def dead_letter(self, body: str, reason: str) -> None: ...


class EmbedderPort(Protocol):
    """Texts to vectors, one outcome per text (`hf.client.HuggingFaceClient`)."""

    async def embed(self, target: Target, texts: list[str], token: str | None, deadline: float) -> EmbedOutcome: ...


class TokenSealerPort(Protocol):
    """A caller's token sealed for the queue under one job id (`credentials.TokenSealer`)."""

    def seal(self, token: str, job_id: str) -> str: ...

    def unseal(self, sealed: str, job_id: str) -> str: ...


class DefaultTokenPort(Protocol):
    """The deployment's own token, if it has one (`credentials.DefaultToken`)."""

    def for_destination(self, url: str) -> str:
        """The default token for a call to `url`; `MissingTokenError` where it may not go or is unset."""
        ...


class EventPublisherPort(Protocol):
    """Where a job's end is announced (`jobs.notifications.EventBridgeEvents`)."""

    def publish(self, detail_type: str, detail: str) -> None: ...


class JobDependencies(Protocol):
    """Everything `submit_job` and `process_chunk` use; `services.Services` is one.

    Read-only members, so a holder of any implementation (a concrete store, a fake) fits.
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def hf(self) -> EmbedderPort: ...

    @property
    def jobs(self) -> JobStorePort: ...

    @property
    def vectors(self) -> VectorStorePort: ...

    @property
    def queue(self) -> WorkQueuePort: ...

    @property
    def sealer(self) -> TokenSealerPort: ...

    @property
    def default_token(self) -> DefaultTokenPort: ...

    @property
    def events(self) -> EventPublisherPort: ...

    def vector_store_for(self, job: JobRecord, chunk: int) -> VectorStorePort:
        """Where `job`'s chunk `chunk` stores its vectors: `vectors`, or a file job's shard."""
        ...
