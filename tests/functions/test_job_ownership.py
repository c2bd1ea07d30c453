"""A job belongs to whoever made it: anyone else reading it gets the 404 of a job that does not exist."""

from __future__ import annotations

import json
from typing import Any

import boto3

from local.api_gateway import find_route, http_answer, proxy_event
from local.lambda_context import LocalContext
from tests.fakes.fake_hf_server import expected_vector
from tests.function_harness import ApiAnswer, Harness

TEXTS = ["first text", "second text"]
UNKNOWN_JOB = "0f9c2a54-4e1b-4a7e-9d55-5d8f2a1c0b7e"


def call(
    harness: Harness, method: str, path: str, body: Any = None, *, api_key_id: str | None = None,
    principal: str | None = None, query: dict[str, str] | None = None,
) -> ApiAnswer:
    """A request as API Gateway hands it over once it has checked an API key or run an authorizer."""
    route, params = find_route(harness.routes, method, path)
    event = proxy_event(
        route, params, method=method, path=path, headers={"Content-Type": "application/json"},
        query=list((query or {}).items()), body=json.dumps(body).encode() if body is not None else None,
    )
    if api_key_id is not None:
        event["requestContext"]["identity"]["apiKeyId"] = api_key_id
    if principal is not None:
        event["requestContext"]["authorizer"] = {"principalId": principal}
    status, headers, payload = http_answer(harness.api_module.lambda_handler(event, LocalContext("ApiFunction", 29)))
    return ApiAnswer(status, dict(headers), json.loads(payload) if payload else None)


def make_job(harness: Harness, **who: str) -> str:
    answer = call(harness, "POST", "/vectorize", {"texts": TEXTS, "mode": "async"}, **who)
    assert answer.status == 202, answer.body
    harness.run_worker_until_idle()
    return answer.body["jobId"]


def not_found(job_id: str) -> dict[str, str]:
    return {"error": f"no job with id {job_id!r}", "code": "job_not_found"}


def test_the_owner_reads_its_job_and_its_vectors(harness: Harness, fake_hf) -> None:
    job_id = make_job(harness, api_key_id="key-a")
    status = call(harness, "GET", f"/jobs/{job_id}", api_key_id="key-a")
    assert (status.status, status.body["status"], status.body["succeeded"]) == (200, "succeeded", 2)
    vectors = call(harness, "GET", f"/jobs/{job_id}/vectors", api_key_id="key-a")
    assert vectors.status == 200
    assert [item["vector"] for item in vectors.body["items"]] == [expected_vector(t) for t in TEXTS]


def test_another_api_key_gets_exactly_the_404_of_a_job_that_does_not_exist(harness: Harness, fake_hf) -> None:
    job_id = make_job(harness, api_key_id="key-a")
    missing = call(harness, "GET", f"/jobs/{UNKNOWN_JOB}", api_key_id="key-b")
    assert (missing.status, missing.body) == (404, not_found(UNKNOWN_JOB))
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/vectors"):
        foreign = call(harness, "GET", path, api_key_id="key-b")
        assert (foreign.status, foreign.body) == (404, not_found(job_id))
        assert foreign.headers.get("Content-Type") == missing.headers.get("Content-Type")


def test_an_anonymous_caller_cannot_read_a_keyed_job_nor_a_key_an_anonymous_one(harness: Harness, fake_hf) -> None:
    keyed = make_job(harness, api_key_id="key-a")
    anonymous = make_job(harness)
    assert call(harness, "GET", f"/jobs/{keyed}").body == not_found(keyed)
    assert call(harness, "GET", f"/jobs/{anonymous}", api_key_id="key-a").body == not_found(anonymous)
    assert call(harness, "GET", f"/jobs/{anonymous}").status == 200


def test_an_authorizers_principal_owns_its_jobs_when_no_api_key_was_used(harness: Harness, fake_hf) -> None:
    job_id = make_job(harness, principal="user-7")
    assert call(harness, "GET", f"/jobs/{job_id}", principal="user-7").status == 200
    assert call(harness, "GET", f"/jobs/{job_id}", principal="user-8").body == not_found(job_id)
    # An API key id spelt like the principal is another identity.
    assert call(harness, "GET", f"/jobs/{job_id}", api_key_id="user-7").body == not_found(job_id)


def test_the_owner_is_stored_in_the_job_record_and_never_answered(harness: Harness, fake_hf) -> None:
    job_id = make_job(harness, api_key_id="key-a")
    table = harness.stack.environment("ApiFunction")["JOBS_TABLE"]
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"jobId": {"S": job_id}, "sk": {"S": "job"}})
    assert item["Item"]["owner"] == {"S": "apikey:key-a"}
    status = call(harness, "GET", f"/jobs/{job_id}", api_key_id="key-a")
    assert "owner" not in status.body and "apikey:key-a" not in json.dumps(status.body)


def test_a_job_an_outside_producer_queued_is_not_readable_through_the_api(harness: Harness, fake_hf) -> None:
    message = {"version": 1, "jobId": "producer-job-1", "chunk": 0, "config": {},
               "items": [{"index": 0, "id": "doc-1", "text": "hello"}]}
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=json.dumps(message))
    harness.run_worker_until_idle()
    for path in ("/jobs/producer-job-1", "/jobs/producer-job-1/vectors"):
        answer = call(harness, "GET", path)
        assert (answer.status, answer.body) == (404, not_found("producer-job-1"))
