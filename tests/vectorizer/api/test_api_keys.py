"""The authorizer's decision: which header carries the service's API key, and what it answers."""

from __future__ import annotations

import pytest

from vectorizer.api.api_keys import PresentedKey, authorize, bearer_is_api_key, presented_key, principal_for

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/Prod/POST/models/m"
KEY = "svcKey0123456789abcdefghij"


def event(headers: dict[str, str] | None) -> dict:
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers, "httpMethod": "POST"}


def test_x_api_key_is_the_key_and_says_so() -> None:
    assert presented_key({"X-API-Key": f" {KEY} "}) == PresentedKey(value=KEY, source="header")


def test_a_bearer_alone_is_the_key_whatever_the_header_case() -> None:
    assert presented_key({"authorization": f"bearer {KEY}"}) == PresentedKey(value=KEY, source="bearer")
    assert presented_key({"Authorization": f"Bearer {KEY}"}) == PresentedKey(value=KEY, source="bearer")


def test_x_api_key_wins_over_a_bearer_which_then_stays_a_hugging_face_token() -> None:
    assert presented_key({"x-api-key": KEY, "Authorization": "Bearer hf_token"}) == PresentedKey(
        value=KEY, source="header")


@pytest.mark.parametrize("headers", [None, {}, {"x-api-key": "  "}, {"Authorization": "Bearer"},
                                     {"Authorization": "Bearer   "}, {"Authorization": f"Basic {KEY}"}])
def test_no_key_when_neither_header_holds_one(headers) -> None:
    assert presented_key(headers) is None


def test_a_bearer_key_is_allowed_with_its_usage_identifier_key_and_the_bearer_source() -> None:
    assert authorize(event({"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})) == {
        "principalId": principal_for(PresentedKey(value=KEY, source="bearer")),
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}]},
        "usageIdentifierKey": KEY,
        "context": {"apiKeySource": "bearer"},
    }


def test_a_keyless_request_gets_no_usage_identifier_key_so_api_gateway_refuses_it() -> None:
    answer = authorize(event({"Content-Type": "application/json"}))
    assert "usageIdentifierKey" not in answer
    assert answer["principalId"] == "anonymous"
    assert answer["context"] == {"apiKeySource": "none"}


def test_the_principal_names_the_key_without_revealing_it() -> None:
    principal = principal_for(PresentedKey(value=KEY, source="header"))
    assert principal.startswith("key-") and len(principal) == 20
    assert KEY not in principal
    assert principal == principal_for(PresentedKey(value=KEY, source="bearer"))


def test_the_bearer_is_the_api_key_only_when_the_authorizer_said_so() -> None:
    assert bearer_is_api_key({"principalId": "key-x", "apiKeySource": "bearer"}) is True
    assert bearer_is_api_key({"principalId": "key-x", "apiKeySource": "header"}) is False
    assert bearer_is_api_key(None) is False
    assert bearer_is_api_key({}) is False
