"""`POST /vectorize` with an `Idempotency-Key`: submitting twice is safe.

The API function through API Gateway events, on the template's tables in moto (the idempotency
table included), with Powertools' idempotency utility doing the bookkeeping.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.api_gateway import find_route, http_answer, proxy_event
from local.lambda_context import LocalContext
from tests.conftest import CALLER_TOKEN
from tests.function_harness import ApiAnswer, Harness
from tests.integration.test_bulk_job import MODEL, scan_all

TEXTS = ["first text", "second text", "third text"]
BODY = {"config": {"model": MODEL}, "texts": TEXTS, "mode": "async"}


def post(harness: Harness, body: Any = BODY, *, key: str | None = "order-42", api_key_id: str | None = None,
         token: str = CALLER_TOKEN) -> ApiAnswer:
    route, params = find_route(harness.routes, "POST", "/vectorize")
    headers = {"Content-Type": "application/json", "X-Huggingface-Api-Key": token,
               **({"Idempotency-Key": key} if key is not None else {})}
    event = proxy_event(route, params, method="POST", path="/vectorize", headers=headers, query=[],
                        body=json.dumps(body).encode())
    if api_key_id is not None:
        event["requestContext"]["identity"]["apiKeyId"] = api_key_id
    status, answer_headers, payload = http_answer(
        harness.api_module.lambda_handler(event, LocalContext("ApiFunction", 29)))
    return ApiAnswer(status, dict(answer_headers), json.loads(payload) if payload else None)


def job_ids(harness: Harness) -> list[str]:
    table = harness.stack.environment("ApiFunction")["JOBS_TABLE"]
    return sorted(item["jobId"]["S"] for item in scan_all(table) if item["sk"]["S"] == "job")


def queued_messages(harness: Harness) -> int:
    attributes = harness.sqs.get_queue_attributes(QueueUrl=harness.queue_url,
                                                  AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_a_retry_with_the_same_key_and_body_gets_the_same_answer_and_the_same_job(harness: Harness) -> None:
    first = post(harness)
    # Another container, started cold, gets the retry: the answer comes from the table.
    harness.api_module.services.cache_clear()
    again = post(harness, json.loads(json.dumps(BODY, indent=2)))

    assert first.status == again.status == 202
    assert first.body == again.body == {"jobId": first.body["jobId"], "status": "queued", "total": 3, "chunks": 1}
    assert first.headers["Location"] == again.headers["Location"] == f"/jobs/{first.body['jobId']}"
    assert job_ids(harness) == [first.body["jobId"]]
    assert queued_messages(harness) == 1


def test_without_a_key_each_submission_is_a_new_job(harness: Harness) -> None:
    first, second = post(harness, key=None), post(harness, key=None)
    assert (first.status, second.status) == (202, 202)
    assert job_ids(harness) == sorted([first.body["jobId"], second.body["jobId"]])
    assert first.body["jobId"] != second.body["jobId"]


def test_the_same_key_with_another_body_is_refused_and_makes_no_job(harness: Harness) -> None:
    first = post(harness)
    other = post(harness, {**BODY, "texts": [*TEXTS, "a fourth text"]})
    assert (other.status, other.body) == (422, {
        "error": "this Idempotency-Key was used with another request body: send a new key for a new request",
        "code": "idempotency_key_reused",
    })
    assert job_ids(harness) == [first.body["jobId"]]


def test_a_key_belongs_to_its_caller_so_another_callers_same_key_makes_its_own_job(harness: Harness) -> None:
    mine = post(harness, api_key_id="key-a")
    theirs = post(harness, api_key_id="key-b")
    assert (mine.status, theirs.status) == (202, 202)
    assert mine.body["jobId"] != theirs.body["jobId"]
    assert post(harness, api_key_id="key-a").body == mine.body


def test_a_key_still_in_progress_is_a_409(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = harness.api_module.services().queue._sqs
    real_send = sqs.send_message_batch
    answers = []

    def a_retry_arrives_meanwhile(**kwargs: Any) -> Any:
        answers.append(post(harness))
        return real_send(**kwargs)

    monkeypatch.setattr(sqs, "send_message_batch", a_retry_arrives_meanwhile)
    first = post(harness)
    [meanwhile] = answers
    assert first.status == 202
    assert (meanwhile.status, meanwhile.body) == (409, {
        "error": "a request with this Idempotency-Key is still being processed: retry in a few seconds",
        "code": "idempotency_key_in_progress",
    })


def test_a_failed_submission_leaves_no_record_so_its_retry_runs_afresh(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = harness.api_module.services().queue._sqs
    real_send = sqs.send_message_batch
    monkeypatch.setattr(sqs, "send_message_batch", lambda **kwargs: {"Successful": [], "Failed": [
        {"Id": e["Id"], "SenderFault": True, "Code": "x", "Message": "refused"} for e in kwargs["Entries"]]})
    refused = post(harness)
    assert (refused.status, refused.body["code"]) == (503, "queue_unavailable")
    monkeypatch.setattr(sqs, "send_message_batch", real_send)
    retried = post(harness)
    assert retried.status == 202
    assert len(job_ids(harness)) == 2 and retried.body["jobId"] in job_ids(harness)


def test_a_malformed_key_is_a_400(harness: Harness) -> None:
    answer = post(harness, key=" padded ")
    assert (answer.status, answer.body["code"]) == (400, "invalid_idempotency_key")
    assert job_ids(harness) == []


def test_the_idempotency_record_holds_neither_the_token_nor_the_texts(harness: Harness) -> None:
    post(harness)
    table = harness.stack.environment("ApiFunction")["IDEMPOTENCY_TABLE"]
    [record] = boto3.client("dynamodb").scan(TableName=table)["Items"]
    text = json.dumps(record)
    assert CALLER_TOKEN not in text and all(t not in text for t in TEXTS)
    assert record["id"]["S"].startswith("vectorize#") and record["status"]["S"] == "COMPLETED"


def test_an_inline_request_with_a_key_is_answered_and_records_nothing(harness: Harness, fake_hf) -> None:
    answer = post(harness, {**BODY, "mode": "sync"})
    assert (answer.status, len(answer.body["vectors"])) == (200, 3)
    table = harness.stack.environment("ApiFunction")["IDEMPOTENCY_TABLE"]
    assert boto3.client("dynamodb").scan(TableName=table)["Items"] == []
