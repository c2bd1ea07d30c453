"""A job as the API reports it: its status and counters, and its vectors a page at a time."""

from __future__ import annotations

from vectorizer.api.models import ItemErrorModel, JobStatus, VectorItem, VectorsPage
from vectorizer.services import Services


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
        failure_reason=job.failure_reason,
    )


def job_vectors(services: Services, job_id: str, *, limit: int, next_token: str | None) -> VectorsPage:
    services.jobs.get(job_id, max_errors=0)  # 404 for an unknown job rather than an empty page
    stored, token = services.vectors.page(job_id, limit=limit, next_token=next_token)
    return VectorsPage(
        items=[VectorItem(index=v.index, id=v.id, vector=v.vector) for v in stored], next_token=token
    )
