"""Bad input gets a 4xx in the route's own error shape, never a 500."""

from __future__ import annotations

import base64
import json

import pytest

from tests.function_harness import Harness

DEEP = b"[" * 200_000 + b"]" * 200_000
DEEP_IN_A_FIELD = b'{"texts": ' + DEEP + b"}"
NOT_UTF8 = b'{"texts": ["caf\xe9"]}'  # Latin-1, not UTF-8


def token_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("body", [DEEP, DEEP_IN_A_FIELD], ids=["deep", "deep-in-a-field"])
def test_json_nested_200000_deep_is_a_400_on_vectorize(harness: Harness, fake_hf, body: bytes) -> None:
    answer = harness.api("POST", "/vectorize", raw_body=body)
    assert (answer.status, answer.body) == (
        400, {"error": "the request body is nested too deeply to be read", "code": "bad_json"}
    )
    assert fake_hf.observed.requests == 0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # TEI answers a body it cannot read with 422, as TEI itself does.
        ("/embed", {"error": "the request body is nested too deeply to be read", "error_type": "Validation"}),
        ("/models/org/model", {"error": "the request body is nested too deeply to be read"}),
        ("/", {"error": "the request body is nested too deeply to be read"}),
        ("/v1/embeddings", {"error": {"message": "the request body is nested too deeply to be read",
                                      "type": "invalid_request_error", "param": None, "code": "invalid_body"}}),
    ],
)
def test_json_nested_200000_deep_is_a_400_on_the_compatible_routes(
    harness: Harness, fake_hf, path: str, expected: dict
) -> None:
    answer = harness.api("POST", path, raw_body=DEEP)
    assert (answer.status, answer.body) == (422 if path == "/embed" else 400, expected)
    assert fake_hf.observed.requests == 0


def test_a_body_that_is_not_utf8_is_a_400_on_vectorize(harness: Harness, fake_hf) -> None:
    answer = harness.api("POST", "/vectorize", raw_body=NOT_UTF8)
    assert (answer.status, answer.body) == (400, {"error": "the request body is not UTF-8 text", "code": "bad_json"})
    assert fake_hf.observed.requests == 0


@pytest.mark.parametrize("path", ["/embed", "/v1/embeddings", "/models/org/model"])
def test_a_body_that_is_not_utf8_is_a_400_on_the_compatible_routes(harness: Harness, fake_hf, path: str) -> None:
    answer = harness.api("POST", path, raw_body=NOT_UTF8)
    assert answer.status in (400, 422)  # TEI answers unreadable JSON with 422, as TEI does
    assert fake_hf.observed.requests == 0


@pytest.mark.parametrize(
    "token",
    [token_of({"i": True}), token_of({"i": 10**59}), token_of({"i": -1}), token_of({"i": 1.5}),
     token_of({"i": "7"}), token_of(["i"]), base64.urlsafe_b64encode(b"[" * 5000).decode(), "%%%", "é"],
    ids=["bool", "60-digits", "negative", "float", "string", "list", "deep", "not-base64", "non-ascii"],
)
def test_a_next_token_this_service_never_gave_out_is_a_400(harness: Harness, fake_hf, token: str) -> None:
    accepted = harness.api("POST", "/vectorize", {"texts": ["a", "b"], "mode": "async"})
    answer = harness.api("GET", f"/jobs/{accepted.body['jobId']}/vectors", query={"nextToken": token})
    assert (answer.status, answer.body) == (
        400, {"error": "nextToken is not one this service gave out", "code": "invalid_next_token"}
    )


# A character outside what the router's path parameters match (a private-use code point) leaves
# API Gateway's greedy route matched and the function's router without one: that is a 404.
UNROUTABLE = "Q\U000fae86"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/jobs/{UNROUTABLE}"),
    ("GET", f"/jobs/{UNROUTABLE}/vectors"),
    ("POST", f"/models/{UNROUTABLE}"),
    ("POST", f"/models/{UNROUTABLE}/pipeline/feature-extraction"),
    ("POST", f"/pipeline/feature-extraction/{UNROUTABLE}"),
])
def test_a_path_no_route_of_the_function_matches_is_a_404_not_a_500(
    harness: Harness, fake_hf, method: str, path: str
) -> None:
    answer = harness.api(method, path, {"inputs": ["a"]} if method == "POST" else None)
    assert (answer.status, answer.body) == (404, {"error": f"no route for {method} {path}", "code": "not_found"})
    assert fake_hf.observed.requests == 0
