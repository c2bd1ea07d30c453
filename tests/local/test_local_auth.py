"""The local API Gateway with keys on: the template's authorizer runs first, keys are checked as AWS does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from werkzeug.test import Client

from local.api_gateway import FORBIDDEN, MethodAuth, Route, authorize_event, proxy_event
from local.functions import load_function
from local.lambda_context import LocalContext
from local.stack import ApiGatewayApp
from local.template_stack import DeployedStack, api_of, api_routes, deploy, route_auth

KEY = "localTestKey0123456789abcdef"
KEY_ID = "k1d2"
MODEL_PATH = "/models/sentence-transformers/all-MiniLM-L6-v2"


class EchoApi:
    """Stands in for ApiFunction's pool: answers 200 with the request context it was handed."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any], describe: str) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps(event["requestContext"])}


class RealAuthorizer:
    """The authorizer function itself, loaded as Lambda loads it, behind a pool's interface."""

    def __init__(self) -> None:
        self.module = load_function("authorizer")
        self.calls = 0

    def invoke(self, event: dict[str, Any], describe: str) -> dict[str, Any]:
        self.calls += 1
        return self.module.lambda_handler(json.loads(json.dumps(event)), LocalContext("AuthorizerFunction", 5))


def deployed(require: str) -> DeployedStack:
    return deploy(boto3.client("cloudformation"), stack_name=f"auth-{require}", overrides={"RequireApiKey": require})


@pytest.fixture
def stacks(aws_env: None) -> Iterator[dict[str, DeployedStack]]:
    with mock_aws():
        yield {"on": deployed("true"), "off": deployed("false")}


def gateway(stack: DeployedStack) -> tuple[Client, EchoApi, RealAuthorizer]:
    api, authorizer = EchoApi(), RealAuthorizer()
    routes = [Route(m, p) for m, p in api_routes(stack.template, "ApiFunction")]
    app = ApiGatewayApp(routes, api, auth=route_auth(stack, api_of(stack.template, "ApiFunction")),
                        authorizers={"AuthorizerFunction": authorizer}, api_keys={KEY: KEY_ID})
    return Client(app), api, authorizer


def test_with_keys_on_every_route_but_the_open_ones_wants_the_key_through_the_authorizer(stacks) -> None:
    wanted = MethodAuth(api_key=True, authorizer="AuthorizerFunction", key_source="AUTHORIZER")
    assert route_auth(stacks["on"], "VectorizerApi") == {
        ("POST", "/vectorize"): wanted, ("POST", "/jobs"): wanted, ("GET", "/jobs/{jobId}"): wanted,
        ("GET", "/jobs/{jobId}/vectors"): wanted,
        ("POST", "/"): wanted, ("POST", "/models/{model+}"): wanted,
        ("POST", "/pipeline/feature-extraction/{model+}"): wanted, ("POST", "/embed"): wanted,
        ("POST", "/v1/embeddings"): wanted,
    }


def test_with_keys_off_no_route_wants_anything(stacks) -> None:
    assert route_auth(stacks["off"], "VectorizerApi") == {}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer notAKey"}, {"x-api-key": "notAKey"},
                                     {"Authorization": "Basic " + KEY}])
def test_a_missing_or_unknown_key_is_403_forbidden_and_never_reaches_the_function(stacks, headers) -> None:
    client, api, authorizer = gateway(stacks["on"])
    answer = client.post(MODEL_PATH, json={"inputs": ["a"]}, headers=headers)
    assert (answer.status_code, answer.get_json()) == (403, {"message": "Forbidden"})
    assert api.events == [] and authorizer.calls == 1


def test_a_bearer_key_passes_with_its_identity_and_the_authorizers_context(stacks) -> None:
    client, api, _ = gateway(stacks["on"])
    answer = client.post(MODEL_PATH, json={"inputs": ["a"]}, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200
    context = answer.get_json()
    assert api.events[0]["requestContext"] == context
    assert context["identity"]["apiKey"] == KEY and context["identity"]["apiKeyId"] == KEY_ID
    assert context["authorizer"]["apiKeySource"] == "bearer"
    assert context["authorizer"]["principalId"].startswith("key-")


def test_an_x_api_key_passes_and_is_named_as_the_header_source(stacks) -> None:
    client, _, _ = gateway(stacks["on"])
    answer = client.get("/jobs/j1", headers={"x-api-key": KEY, "Authorization": "Bearer hf_someToken"})
    assert answer.status_code == 200
    assert answer.get_json()["authorizer"]["apiKeySource"] == "header"
    assert answer.get_json()["identity"]["apiKeyId"] == KEY_ID


def test_health_stays_open_and_skips_the_authorizer(stacks) -> None:
    client, api, authorizer = gateway(stacks["on"])
    assert client.get("/health").status_code == 200
    assert authorizer.calls == 0 and "authorizer" not in api.events[0]["requestContext"]


def test_with_keys_off_nothing_changes(stacks) -> None:
    client, api, authorizer = gateway(stacks["off"])
    answer = client.post(MODEL_PATH, json={"inputs": ["a"]}, headers={"Authorization": "Bearer hf_token"})
    assert answer.status_code == 200
    assert authorizer.calls == 0 and "authorizer" not in api.events[0]["requestContext"]


def test_a_policy_that_denies_the_method_is_refused_even_with_a_valid_key() -> None:
    event = proxy_event(Route("POST", "/embed"), {}, method="POST", path="/embed")
    auth = MethodAuth(api_key=True, authorizer="A", key_source="AUTHORIZER")
    deny = {"principalId": "p", "usageIdentifierKey": KEY, "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "arn:aws:execute-api:*"}]}}
    refusal = authorize_event(event, auth, deny, {KEY: KEY_ID})
    assert refusal.status == 403 and refusal != FORBIDDEN
    allow = {**deny, "policyDocument": {"Statement": [{**deny["policyDocument"]["Statement"][0], "Effect": "Allow"}]}}
    passed = authorize_event(event, auth, allow, {KEY: KEY_ID})
    assert passed["requestContext"]["identity"]["apiKeyId"] == KEY_ID
    assert passed["requestContext"]["authorizer"] == {"principalId": "p"}
