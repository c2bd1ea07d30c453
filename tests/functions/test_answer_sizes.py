"""No answer larger than Lambda can return: each is built within the answer budget, in raw UTF-8.

Lambda's Python 3.11 runtime writes the proxy result with `json.dumps` (non-ASCII as `\\u`
escapes); past 6,000,000 bytes API Gateway answers a bare 502. These tests measure the result
exactly as that runtime writes it.
"""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import boto3
import pytest

from local.api_gateway import find_route, http_answer, proxy_event
from local.lambda_context import LocalContext
from tests.function_harness import Harness
from vectorizer.jobs.job_store import ItemError, JobStore
from vectorizer.jobs.vector_store import StoredVector, VectorStore

BUDGET = 5_500_000
WIDE = 4096


def invoke(harness: Harness, method: str, path: str, body: Any = None,
           query: dict[str, str] | None = None) -> tuple[int, Any, int]:
    """Status, decoded body, and the bytes of the proxy result as the Lambda runtime writes it."""
    route, params = find_route(harness.routes, method, path)
    event = proxy_event(route, params, method=method, path=path, headers={"Content-Type": "application/json"},
                        query=list((query or {}).items()),
                        body=json.dumps(body).encode() if body is not None else None)
    result = harness.api_module.lambda_handler(event, LocalContext("ApiFunction", 29))
    status, _, payload = http_answer(result)
    return status, json.loads(payload), len(json.dumps(result))


def queued_job(harness: Harness, count: int) -> str:
    """A job of `count` items, made through the API (so its owner is this caller), never run."""
    status, body, _ = invoke(harness, "POST", "/vectorize", {"texts": [f"t{n}" for n in range(count)],
                                                             "mode": "async"})
    assert status == 202
    return body["jobId"]


def float32_vector(rng: random.Random, dimensions: int) -> list[float]:
    """Values as a model gives them, small enough that JSON writes each with an exponent (~23 bytes)."""
    values = [rng.uniform(-9e-5, 9e-5) for _ in range(dimensions)]
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *values)))


def test_a_job_with_1000_long_non_ascii_errors_reports_what_fits_and_counts_the_rest(harness: Harness, fake_hf) -> None:
    job_id = queued_job(harness, 1000)
    env = harness.stack.environment("ApiFunction")
    dynamodb = boto3.client("dynamodb")
    errors = [ItemError(index=n, id=f"{n:04d}" + "é" * 508, error="Hugging Face refused: " + "ü" * 978)
              for n in range(1000)]
    JobStore(dynamodb, env["JOBS_TABLE"], 7).record_errors(job_id, errors)
    dynamodb.update_item(TableName=env["JOBS_TABLE"], Key={"jobId": {"S": job_id}, "sk": {"S": "job"}},
                         UpdateExpression="SET failed = :n, #s = :partial",
                         ExpressionAttributeNames={"#s": "status"},
                         ExpressionAttributeValues={":n": {"N": "1000"}, ":partial": {"S": "failed"}})

    status, body, envelope = invoke(harness, "GET", f"/jobs/{job_id}")

    assert status == 200
    assert envelope <= BUDGET
    shown = len(body["errors"])
    assert 0 < shown < 1000
    assert body["errorsOmitted"] == 1000 - shown
    assert body["errors"] == [{"index": e.index, "id": e.id, "error": e.error} for e in errors[:shown]]
    # Cut tight: one more entry would not have fitted.
    one_more = len(json.dumps(json.dumps({"index": shown, "id": errors[shown].id, "error": errors[shown].error},
                                         ensure_ascii=False, separators=(",", ":")))) - 1
    assert envelope + one_more > BUDGET


def test_a_job_with_few_errors_lists_them_all_and_omits_none(harness: Harness, fake_hf) -> None:
    job_id = queued_job(harness, 3)
    status, body, _ = invoke(harness, "GET", f"/jobs/{job_id}")
    assert (status, body["errors"], body["errorsOmitted"]) == (200, [], 0)


def test_a_page_of_4096_dim_vectors_ends_at_the_budget_and_the_next_token_gives_the_rest(
    harness: Harness, fake_hf
) -> None:
    job_id = queued_job(harness, 1)
    rng = random.Random(5)
    stored = [StoredVector(index=n, id=f"doc-{n}", vector=float32_vector(rng, WIDE)) for n in range(80)]
    VectorStore(boto3.client("dynamodb"), harness.stack.environment("ApiFunction")["VECTORS_TABLE"], 7).put(
        job_id, stored, model="m")

    items: list[dict] = []
    sizes: list[int] = []
    token = None
    for _ in range(10):
        query = {"limit": "1000", **({"nextToken": token} if token else {})}
        status, body, envelope = invoke(harness, "GET", f"/jobs/{job_id}/vectors", query=query)
        assert status == 200
        assert envelope <= BUDGET
        items.extend(body["items"])
        sizes.append(len(body["items"]))
        token = body["nextToken"]
        if token is None:
            break
    assert [item["index"] for item in items] == list(range(80))
    assert [item["vector"] for item in items] == [v.vector for v in stored]
    # 80 vectors of ~96 KB each take two pages: the first ends at the budget, not at `limit`.
    assert len(sizes) == 2 and sizes[0] < 80


def test_answers_carry_non_ascii_as_utf8_not_escapes(harness: Harness, fake_hf) -> None:
    answer = harness.api_raw("POST", "/vectorize", {"texts": ["x"], "ids": ["café-😀"]})
    assert answer.status == 200
    assert "café-😀".encode() in answer.body
    assert b"\\u" not in answer.body
    missing = harness.api_raw("GET", "/jobs/ünknown")
    assert missing.status == 404 and "ünknown".encode() in missing.body and b"\\u" not in missing.body


def test_a_result_over_lambdas_limit_becomes_a_413_instead_of_a_bare_502(harness: Harness) -> None:
    big = {"statusCode": 200, "headers": {}, "body": "[" + ",".join(["0.1"] * 1_600_000) + "]",
           "isBase64Encoded": False}
    result = harness.api_module.within_response_limit(big)
    assert result["statusCode"] == 413
    assert json.loads(result["body"]) == {
        "error": "the answer would be over Lambda's 6 MB response limit: ask for less per request",
        "code": "answer_too_large",
    }
    small = {**big, "body": "[0.1]"}
    assert harness.api_module.within_response_limit(small) is small


@pytest.mark.parametrize("dimensions", [WIDE])
def test_an_inline_answer_of_wide_vectors_is_planned_within_the_budget(harness: Harness, fake_hf, monkeypatch,
                                                                       dimensions: int) -> None:
    # The most /vectorize answers inline at 4096 dimensions (55 texts): its result fits the budget.
    fake_hf.faults.dimensions = dimensions
    status, body, envelope = invoke(harness, "POST", "/vectorize",
                                    {"texts": [f"t{n}" for n in range(55)], "mode": "sync"})
    assert status == 200 and len(body["vectors"]) == 55
    assert envelope <= BUDGET
