"""The figures as Markdown: the table of rows, the load phase, how the run was set up."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime

from benchmarks.reliability.harness import RUN_SETTINGS, STACK_SETTINGS, Row
from benchmarks.reliability.load import LoadResult

HEADER = ("| fault | accepted | stored | failed (reason) | duplicated | lost | jobs left open | HF requests "
          "| HF retries | API 5xx | dead-lettered | seconds | |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")


def table(rows: list[Row]) -> str:
    """The rows as one Markdown table, a verdict per row (`ok` or `FAIL`)."""
    lines = [HEADER]
    for row in rows:
        t = row.tally
        lines.append(
            f"| {row.name} | {t.accepted} | {t.stored} | {t.failed} | {t.duplicated} | {t.lost} | {t.left_open} "
            f"| {row.hf_requests} | {row.hf_retries} | {row.api_5xx} | {row.dead_lettered} | {row.seconds:.1f} "
            f"| {'ok' if row.ok else 'FAIL'} |")
    return "\n".join(lines)


def load_table(load: LoadResult) -> str:
    """The load phase as a small Markdown table."""
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(load.statuses.items()))
    return ("| inline requests | jobs | answers by status | vectors checked | wrong | jobs not final | 5xx "
            "| seconds | |\n| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |\n"
            f"| {load.inline} | {load.jobs} | {statuses} | {load.vectors_checked} | {load.vectors_wrong} "
            f"| {load.jobs_not_final} | {load.server_errors} | {load.seconds:.1f} | {'ok' if load.ok else 'FAIL'} |")


def _details(rows: list[Row]) -> str:
    lines = []
    for row in rows:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(row.hf_statuses.items())) or "none"
        lines.append(f"- **{row.name}**: {row.what}. HF answers by status: {statuses}.")
        for reason, count in row.tally.reasons.most_common(3):
            lines.append(f"  - {count} item(s) failed with: `{reason}`")
        if not row.ok:
            t = row.tally
            lines.append(f"  - FAILS: duplicated {t.duplicated}, lost {t.lost}, left open {t.left_open} "
                         f"of {t.jobs} job(s) the row created.")
    return "\n".join(lines)


def document(rows: list[Row], load: LoadResult | None, *, jobs: int, texts_per_job: int, seconds: float) -> str:
    """The whole of docs/RELIABILITY.md for this run."""
    settings = ", ".join(f"`{k}={v}`" for k, v in {**STACK_SETTINGS, **RUN_SETTINGS}.items())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdict = "every row holds" if all(r.ok for r in rows) and (load is None or load.ok) else "some rows FAIL"
    return f"""# Reliability: every job ends

Written by `make reliability` ({when}, {platform.machine()}, {os.cpu_count()} CPUs, shared with other
work; {seconds:.0f} s in all): {verdict}. The command exits non-zero unless every row has 0
duplicated, 0 lost and 0 jobs left open.

Each row runs {jobs} job(s) of {texts_per_job} distinct texts through the local stack
(`local.launcher.started_stack`: moto, the API, the SQS event source, the worker), one after
another, with one fault injected, then waits until every job the row created is final (or the
queue is empty and 20 s pass). Hugging Face is the fake endpoint of `tests/fakes/fake_hf_server.py`,
whose vectors are a function of the text; AWS faults are injected into the function processes by
botocore hooks (`local/faults.py`).

Counted from the stores, not from the service's report: for every job answered 202, each item
is **stored** (a vector in the vectors table equal to the fake's vector for its text) or
**failed** (an item error with its reason in the jobs table); an item with neither or with a
wrong vector is **lost**; one with both, counters past the job's total, or a second accepted job
for one submission is **duplicated**. **Jobs left open**: jobs the row created (a submit that
died halfway leaves one the caller never heard of) not in a final status. **HF requests** and
**HF retries** (a request whose exact inputs were sent before) come from the fake's own log
(status 599 there: the connection was closed with no answer, reset or held past the client's timeout);
**API 5xx** are the client's answers of 500 or more while submitting (it submits again, with the
same `Idempotency-Key`, up to 4 times); **dead-lettered**: messages the dead-letter queue gained.

Run settings, chosen so every fault's path plays out in seconds: {settings}; the template's
`MaxReceiveCount` stays 5 (its minimum), so a chunk's last delivery comes about 5 s after its
first; the caller sends its own token, so every job seals it with KMS and every chunk opens it.

## Faults

{table(rows)}

{_details(rows)}

## Load

50 concurrent inline requests (10 texts each) and 20 concurrent jobs (200 texts each) through the
local stack's HTTP API, no fault injected: every vector read back (inline, or through
`GET /jobs/{{id}}/vectors`) must be the fake's vector for its own text under its own job and index.

{load_table(load) if load is not None else "Not run (--no-load)."}
"""
