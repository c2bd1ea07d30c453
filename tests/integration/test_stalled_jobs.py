"""Jobs that would stay open forever, closed by the sweeper: the API died while queueing a job's
chunks, or a chunk was lost. API -> SQS -> worker -> DynamoDB on moto, then the sweeper function
invoked as its schedule would, with bounds of a second or two."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local.functions import load_function
from local.lambda_context import LocalContext
from tests.function_harness import Harness
from tests.integration.test_bulk_job import corpus, scan_all, submit
from tests.integration.test_job_failures import post_job


class Killed(BaseException):
    """The API process dying mid-request: no `except Exception` of the service sees it."""


def sweeper(harness: Harness, monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    """The sweeper function, cold, with the template's environment and `env` on top."""
    from vectorizer.settings import current_settings

    for name, value in {**harness.stack.environment("SweeperFunction"), **env}.items():
        monkeypatch.setenv(name, value)
    current_settings.cache_clear()
    return load_function("sweeper")


def sweep(module: Any) -> dict:
    return module.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
                                 LocalContext("SweeperFunction", 120))


def the_job(harness: Harness) -> dict:
    table = harness.stack.environment("ApiFunction")["JOBS_TABLE"]
    [item] = [item for item in scan_all(table) if item["sk"]["S"] == "job"]
    return item


def test_a_job_whose_api_died_while_queueing_its_chunks_is_closed_failed_saying_so(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.reconfigure(monkeypatch, CHUNK_SIZE="1")
    sqs = harness.api_module.services().queue._sqs
    real_send = sqs.send_message_batch
    calls = []

    def dies_on_the_second_batch(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Entries"]))
        if len(calls) == 2:
            raise Killed
        return real_send(**kwargs)

    monkeypatch.setattr(sqs, "send_message_batch", dies_on_the_second_batch)
    with pytest.raises(Killed):
        post_job(harness, corpus(15))
    harness.run_worker_until_idle()
    job_id = the_job(harness)["jobId"]["S"]
    stuck = harness.api("GET", f"/jobs/{job_id}").body
    # Without the sweeper this is where the job stayed, forever.
    assert (calls, stuck["status"], stuck["succeeded"], stuck["failed"], stuck["total"]) == (
        [10, 5], "running", 10, 0, 15)

    closed = sweep(sweeper(harness, monkeypatch, SUBMIT_STALL_SECONDS="60"))
    assert closed["closed"] == []  # progress a moment ago: not stalled yet
    time.sleep(1.1)
    closed = sweep(sweeper(harness, monkeypatch, SUBMIT_STALL_SECONDS="1"))

    assert (closed["examined"], closed["closed"]) == (1, [{"jobId": job_id, "status": "failed", "missing": 5}])
    report = harness.api("GET", f"/jobs/{job_id}").body
    assert (report["status"], report["succeeded"], report["failed"], report["total"]) == ("failed", 10, 5, 15)
    assert report["failureReason"] == (
        "5 of 15 items never processed: the API stopped before it had queued all the job's chunks; "
        "10 of 15 chunks counted, closed by the sweeper"
    )
    assert "openShard" not in the_job(harness)
    assert sweep(sweeper(harness, monkeypatch, SUBMIT_STALL_SECONDS="1"))["examined"] == 0


def test_a_job_whose_last_chunk_is_lost_is_closed_partial_with_the_missing_items_counted_failed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.reconfigure(monkeypatch, CHUNK_SIZE="2")
    job_id = submit(harness, corpus(5), mode="async")["jobId"]
    # The last chunk (items 4) goes missing: received and deleted by nobody's worker.
    bodies = harness.sqs.receive_message(QueueUrl=harness.queue_url, MaxNumberOfMessages=10)["Messages"]
    [lost] = [m for m in bodies if '"chunk":2' in m["Body"]]
    harness.sqs.delete_message(QueueUrl=harness.queue_url, ReceiptHandle=lost["ReceiptHandle"])
    for kept in (m for m in bodies if m is not lost):
        harness.sqs.change_message_visibility(QueueUrl=harness.queue_url, ReceiptHandle=kept["ReceiptHandle"],
                                              VisibilityTimeout=0)
    harness.run_worker_until_idle()
    stuck = harness.api("GET", f"/jobs/{job_id}").body
    assert (stuck["status"], stuck["succeeded"], stuck["failed"]) == ("running", 4, 0)

    module = sweeper(harness, monkeypatch, STALL_SECONDS="1")
    time.sleep(1.1)
    closed = sweep(module)

    assert closed["closed"] == [{"jobId": job_id, "status": "partial", "missing": 1}]
    report = harness.api("GET", f"/jobs/{job_id}").body
    assert (report["status"], report["succeeded"], report["failed"], report["total"]) == ("partial", 4, 1, 5)
    assert report["failureReason"].startswith("1 of 5 items never processed: no progress for 1 s")
    assert report["failureReason"].endswith("; 2 of 3 chunks counted, closed by the sweeper")
    assert (report["errors"], report["errorsOmitted"]) == ([], 1)
    # The lost chunk turning up after all changes nothing: the job is closed and its counts add up.
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=lost["Body"])
    harness.run_worker_until_idle()
    late = harness.api("GET", f"/jobs/{job_id}").body
    assert (late["status"], late["succeeded"], late["failed"]) == ("partial", 4, 1)
