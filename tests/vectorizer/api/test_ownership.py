"""The owner of a job is the caller's identity as API Gateway vouches for it."""

from __future__ import annotations

import pytest

from vectorizer.api.ownership import ANONYMOUS, caller_identity


@pytest.mark.parametrize(
    ("context", "owner"),
    [
        ({"identity": {"apiKeyId": "k1", "sourceIp": "1.2.3.4"}}, "apikey:k1"),
        ({"identity": {"apiKeyId": "k1"}, "authorizer": {"principalId": "p1"}}, "apikey:k1"),
        ({"identity": {"apiKeyId": None}, "authorizer": {"principalId": "p1"}}, "principal:p1"),
        ({"identity": {"apiKeyId": ""}, "authorizer": {"principalId": "p1"}}, "principal:p1"),
        ({"identity": {"sourceIp": "1.2.3.4"}}, ANONYMOUS),
        ({"authorizer": {"principalId": ""}}, ANONYMOUS),
        ({"identity": None, "authorizer": None}, ANONYMOUS),
        ({}, ANONYMOUS),
        (None, ANONYMOUS),
    ],
)
def test_the_api_key_wins_then_the_authorizers_principal_else_anonymous(context, owner: str) -> None:
    assert caller_identity(context) == owner


def test_an_api_key_and_a_principal_spelt_alike_are_different_owners() -> None:
    assert caller_identity({"identity": {"apiKeyId": "x"}}) != caller_identity({"authorizer": {"principalId": "x"}})


def test_a_source_ip_or_an_unchecked_api_key_header_makes_no_owner() -> None:
    # `identity.apiKey` is the header as sent; only `apiKeyId` means API Gateway checked it.
    assert caller_identity({"identity": {"apiKey": "secret-key", "sourceIp": "9.9.9.9"}}) == ANONYMOUS
