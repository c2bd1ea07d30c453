"""A job as the API reports it to its owner: its status and counters, and its vectors a page at a time.

Both answers are built within the answer budget (`vectorizer.api.answer_budget`): the error list
is cut by bytes, with the count of the rest in `errorsOmitted`, and a page of vectors ends early
with a `nextToken` for the rest.
"""

from __future__ import annotations

from vectorizer.api.answer_budget import dumps, envelope_bytes, fitting_count
from vectorizer.api.models import HfUsageModel, ItemErrorModel, JobStatus, VectorItem, VectorsPage
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


def job_status(services: Services, job_id: str, owner: str) -> JobStatus:
    """Takes the services, a job id and the caller's identity; returns the status of `owner`'s job
    `job_id` with its HF usage (`hf`), its error list cut to fit the answer budget."""
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
    frame = envelope_bytes(dumps(status.model_dump(mode="json", by_alias=True)))
    room = services.settings.answer_budget_bytes - frame
    shown = errors[:fitting_count([e.model_dump(mode="json") for e in errors], room)]
    # Every failed item has an error record; those not shown are the rest, listed or not.
    return status.model_copy(update={"errors": shown, "errors_omitted": max(job.failed, len(errors)) - len(shown)})


def job_vectors(services: Services, job_id: str, owner: str, *, limit: int, next_token: str | None) -> VectorsPage:
    """Up to `limit` of `owner`'s job's vectors from `next_token` on, as many as fit the answer budget."""
    owned_job(services, job_id, owner, max_errors=0)  # 404 rather than an empty page
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
