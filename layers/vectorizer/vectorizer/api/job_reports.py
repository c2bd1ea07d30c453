"""A job as the API reports it to its owner: its status and counters, and its vectors a page at a time.

Both answers are built within the answer budget (`vectorizer.api.answer_budget`): the error list
is cut by bytes, with the count of the rest in `errorsOmitted`, and a page of vectors ends early
with a `nextToken` for the rest. A file job's status also shows its input and, once its manifest
is written, links to its output: its shards' links are paged the same way (`output.nextToken`,
passed back to GET /jobs/{id}), since a job of a million lines has a thousand shards and each
shard's three links take about 2 KB. Its vectors are in S3 only: `job_vectors` answers 409.
"""

from __future__ import annotations

from vectorizer.api.answer_budget import dumps, envelope_bytes, fitting_count
from vectorizer.api.models import (
    FileInputReport,
    FileOutputModel,
    HfUsageModel,
    ItemErrorModel,
    JobStatus,
    VectorItem,
    VectorsPage,
)
from vectorizer.errors import VectorizerError
from vectorizer.jobs.job_store import JobRecord, job_not_found
from vectorizer.jobs.vector_store import encode_page_token
from vectorizer.services import Services


def owned_job(services: Services, job_id: str, owner: str, *, max_errors: int) -> JobRecord:
    """The job `job_id` if `owner` made it, with up to `max_errors` item errors.

    A job of another owner, or one an outside producer started on the queue (no owner), is the
    same 404 as a job that does not exist: a caller cannot even learn that the id is taken.
    """
    job = services.jobs.get(job_id, max_errors=max_errors)
    if job.owner is None or job.owner != owner:
        raise job_not_found(job_id)
    return job


def page_token(chunk: int) -> str:
    """The `nextToken` of a page of shard links that goes on at chunk `chunk`."""
    return str(chunk)


def shards_from(next_token: str | None) -> int:
    """Takes an `output.nextToken` (or None); returns the chunk the page starts at, or raises a 400."""
    if next_token is None:
        return 0
    if not next_token.isdigit() or len(next_token) > 9:
        raise VectorizerError("nextToken is not one GET /jobs/{jobId} gave", code="invalid_next_token")
    return int(next_token)


def paged_output(links: dict, start: int, room: int) -> FileOutputModel:
    """Takes a file job's output links (`files.manifest.OutputLinks`, by alias), the first chunk to
    list and the bytes the output may take; returns them with the shards from `start` that fit,
    and `nextToken` when more follow (at least one shard per page, so a reader always moves on)."""
    shards = [shard for shard in links["shards"] if shard["chunk"] >= start]
    frame = FileOutputModel.model_validate({**links, "shards": [], "nextToken": page_token(2**31)})
    fit = fitting_count(shards, room - envelope_bytes(dumps(frame.model_dump(mode="json", by_alias=True))))
    fit = max(fit, 1) if shards else 0
    following = page_token(shards[fit]["chunk"]) if fit < len(shards) else None
    return FileOutputModel.model_validate({**links, "shards": shards[:fit], "nextToken": following})


def job_status(services: Services, job_id: str, owner: str, *, next_token: str | None = None) -> JobStatus:
    """Takes the services, a job id, the caller's identity and, for a file job, where its page of
    shard links starts (`output.nextToken`); returns the status of `owner`'s job `job_id` with its
    HF usage (`hf`), its error list cut to fit the answer budget, and a file job's `input` and
    `output` (links to its manifest, failures and shards, once the manifest is written)."""
    start = shards_from(next_token)
    job = owned_job(services, job_id, owner, max_errors=services.settings.max_reported_errors)
    errors = [ItemErrorModel(index=e.index, id=e.id, error=e.error) for e in job.errors]
    status = JobStatus(
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
        errors=[],
        # As large as it can be while measuring the rest of the answer.
        errors_omitted=max(job.failed, len(errors)),
        failure_reason=job.failure_reason,
        hf=HfUsageModel(
            texts=job.usage.texts, cache_hits=job.usage.cache_hits, hit_ratio=job.usage.hit_ratio,
            sent=job.usage.sent, requests=job.usage.requests, requests_saved=job.usage.requests_saved,
        ),
    )
    room = services.settings.answer_budget_bytes
    if job.writes_files:
        source = services.file_outputs.source(job_id)
        links = services.file_outputs.links(job_id)
        # The output's links first (half the budget at most), then as many errors as fit the rest.
        status.input = FileInputReport.model_validate(source) if source is not None else None
        status.output = paged_output(links, start, room // 2) if links is not None else None
    frame = envelope_bytes(dumps(status.model_dump(mode="json", by_alias=True)))
    room -= frame
    shown = errors[:fitting_count([e.model_dump(mode="json") for e in errors], room)]
    # Every failed item has an error record; those not shown are the rest, listed or not.
    return status.model_copy(update={"errors": shown, "errors_omitted": max(job.failed, len(errors)) - len(shown)})


def job_vectors(services: Services, job_id: str, owner: str, *, limit: int, next_token: str | None) -> VectorsPage:
    """Up to `limit` of `owner`'s job's vectors from `next_token` on, as many as fit the answer budget.

    Raises 404 for a job not `owner`'s, 409 `vectors_in_files` for a file job (its vectors are in S3)."""
    job = owned_job(services, job_id, owner, max_errors=0)  # 404 rather than an empty page
    if job.writes_files:
        raise VectorizerError(
            "this is a file job: its vectors are in S3, linked from GET /jobs/{jobId} under 'output' once it ends",
            status=409, code="vectors_in_files",
        )
    stored, token = services.vectors.page(job_id, limit=limit, next_token=next_token)
    items = [VectorItem(index=v.index, id=v.id, vector=v.vector) for v in stored]
    frame = envelope_bytes(dumps(VectorsPage(items=[], next_token=encode_page_token(2**63)).model_dump(
        mode="json", by_alias=True)))
    fit = fitting_count([item.model_dump(mode="json") for item in items], services.settings.answer_budget_bytes - frame)
    if fit < len(items):
        # At least one item per page, so a reader always moves on (one vector is far below budget).
        fit = max(fit, 1)
        items, token = items[:fit], encode_page_token(items[fit - 1].index)
    return VectorsPage(items=items, next_token=token)
