"""Counting a scenario from the stores themselves (moto's DynamoDB and SQS), never from the API's report.

For every job the client was answered 202 for, each item must end exactly one way: a stored
vector equal to the fake endpoint's vector for its text (`stored`), or an item error with a
reason (`failed`). An item with neither, or with a wrong vector, is `lost`; an item with both, a
job whose counters pass its total, or a second accepted job for one submission is `duplicated`.
Every job the row created (accepted or not: a submit that died halfway leaves one) must be in a
final status, else it is `left open`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.fake_hf_server import expected_vector
from vectorizer.codec import decode_vector
from vectorizer.jobs.job_store import FINAL_STATUSES, JOB_SK


@dataclass(frozen=True)
class Submitted:
    """One accepted job as the client knows it: its id, the submission it answers, its texts."""

    job_id: str
    submission: str
    texts: tuple[str, ...]


@dataclass
class Tally:
    """What the stores hold for a row's jobs."""

    accepted: int = 0
    stored: int = 0
    failed: int = 0
    duplicated: int = 0
    lost: int = 0
    left_open: int = 0
    jobs: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def _query_all(dynamodb: Any, table: str, job_id: str) -> list[dict[str, Any]]:
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="jobId = :j", ExpressionAttributeValues={":j": {"S": job_id}},
        ConsistentRead=True)
    return [item for page in pages for item in page.get("Items", [])]


def job_ids(dynamodb: Any, jobs_table: str) -> set[str]:
    """Every job id the jobs table holds a job record for."""
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=jobs_table, FilterExpression="sk = :job", ExpressionAttributeValues={":job": {"S": JOB_SK}},
        ProjectionExpression="jobId")
    return {item["jobId"]["S"] for page in pages for item in page.get("Items", [])}


def job_statuses(dynamodb: Any, jobs_table: str, ids: set[str]) -> dict[str, str]:
    """The status of each job in `ids`, read from its record."""
    statuses = {}
    for job_id in ids:
        item = dynamodb.get_item(TableName=jobs_table, Key={"jobId": {"S": job_id}, "sk": {"S": JOB_SK}},
                                 ConsistentRead=True).get("Item")
        statuses[job_id] = item["status"]["S"] if item else "missing"
    return statuses


def open_jobs(dynamodb: Any, jobs_table: str, ids: set[str]) -> int:
    """How many of the jobs in `ids` are not in a final status."""
    return sum(status not in FINAL_STATUSES for status in job_statuses(dynamodb, jobs_table, ids).values())


def tally(dynamodb: Any, jobs_table: str, vectors_table: str, accepted: list[Submitted], created: set[str],
          dimensions: int) -> Tally:
    """Count the row: `accepted` jobs item by item, every job in `created` for being left open.

    Takes a DynamoDB client on moto, both table names, the accepted jobs, the ids of every job
    the row created and the fake's dimensions; returns the Tally.
    """
    result = Tally(jobs=len(created), left_open=open_jobs(dynamodb, jobs_table, created))
    per_submission = Counter(job.submission for job in accepted)
    result.duplicated += sum(count - 1 for count in per_submission.values())
    for job in accepted:
        result.accepted += len(job.texts)
        records = _query_all(dynamodb, jobs_table, job.job_id)
        record = next((item for item in records if item["sk"]["S"] == JOB_SK), {})
        errors = {int(item["index"]["N"]) if "index" in item else int(item["sk"]["S"].split("#")[1]):
                  item.get("error", {}).get("S", "") for item in records if item["sk"]["S"].startswith("error#")}
        vectors = {int(item["index"]["N"]): decode_vector(bytes(item["vector"]["B"]))
                   for item in _query_all(dynamodb, vectors_table, job.job_id)}
        counted = int(record.get("succeeded", {}).get("N", 0)) + int(record.get("failed", {}).get("N", 0))
        result.duplicated += max(0, counted - len(job.texts))
        for index, text in enumerate(job.texts):
            vector, error = vectors.get(index), errors.get(index)
            right = vector is not None and vector == expected_vector(text, dimensions)
            if right and error is None:
                result.stored += 1
            elif vector is None and error:
                result.failed += 1
                result.reasons[_reason_kind(error)] += 1
            elif vector is not None and error is not None:
                result.duplicated += 1
            else:
                result.lost += 1
    return result


def _reason_kind(error: str) -> str:
    """An item error without its numbers, so that like reasons add up in the report."""
    return "".join("#" if ch.isdigit() else ch for ch in error)[:160]
