"""The local API Gateway's events against real ones: same keys, same JSON types, same forms."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from local.api_gateway import Route, find_route, proxy_event
from local.template_stack import api_routes, load_template

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# The levels of the event a function reads: (name, path of keys from the top).
LEVELS = [("top level", ()), ("requestContext", ("requestContext",)),
          ("requestContext.identity", ("requestContext", "identity"))]
# Keys of the Powertools sample a REST API sends only with features this service does not use.
NOT_OURS = {
    ("version",): "payload format marker of HTTP APIs; AWS's REST sample has none",
    ("requestContext", "authorizer"): "present only behind a Lambda or Cognito authorizer",
    ("requestContext", "identity", "clientCert"): "present only with mutual TLS",
}
# Where the real sample holds a value and ours is rightly null for this service's stack.
NULL_HERE = {
    ("stageVariables",): "the template's stage defines no stage variables",
}
# Values one sample holds that disagree with the rest of that same sample or with AWS's REST sample.
QUIRKS = {
    "apigateway-aws-proxy.sam.json": {},
    "apigateway-proxy.powertools.json": {
        ("requestContext", "resourceId"): "null here; a REST API sends its resource's id, as AWS's sample does",
        ("requestContext", "identity", "userAgent"): "set although the sample's headers carry no User-Agent",
    },
}


def sample(name: str) -> dict[str, Any]:
    """A stored real event by file name (see tests/fixtures/README.md)."""
    return json.loads((FIXTURES / name).read_text())


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value: null, boolean, number, string, array or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def at(event: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The object found under the keys of `path` in `event`."""
    for key in path:
        event = event[key]
    return event


def ours_for(real: dict[str, Any]) -> dict[str, Any]:
    """Our event for the request a real event describes: its method, path, headers, query and body."""
    route = Route(real["httpMethod"], real["resource"])
    params = route.match(real["httpMethod"], real["path"])
    assert params is not None
    headers = [(name, value) for name, values in real["multiValueHeaders"].items() for value in values]
    query = [(name, value) for name, values in real["multiValueQueryStringParameters"].items() for value in values]
    raw = real["body"].encode() if not real["isBase64Encoded"] else base64.b64decode(real["body"])
    return proxy_event(route, params, method=real["httpMethod"], path=real["path"], headers=headers,
                       query=query, body=raw)


def differences(real: dict[str, Any], ours: dict[str, Any], quirks: Mapping[tuple[str, ...], str]) -> list[str]:
    """Each key of the real event's checked levels that ours lacks or holds with another JSON type.

    Takes the real event, ours, and the keys whose type not to compare (the sample's quirks);
    returns one line per difference, in the real event's key order.
    """
    found = []
    for name, path in LEVELS:
        if path in NOT_OURS:
            continue
        real_level, our_level = at(real, path), at(ours, path)
        for key, value in real_level.items():
            where = (*path, key)
            if where in NOT_OURS:
                continue
            if key not in our_level:
                found.append(f"{name}: no {key!r}")
                continue
            if where in quirks:
                continue
            wanted = "null" if where in NULL_HERE else json_type(value)
            if json_type(our_level[key]) != wanted:
                found.append(f"{name}: {key!r} is {json_type(our_level[key])}, not {wanted}")
    return found


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_every_key_of_a_real_event_is_in_ours_with_its_json_type(name: str) -> None:
    real = sample(name)
    assert differences(real, ours_for(real), QUIRKS[name]) == []


def test_the_comparison_notices_a_missing_key_and_a_wrong_type() -> None:
    real = sample("apigateway-aws-proxy.sam.json")
    ours = ours_for(real)
    del ours["requestContext"]["identity"]["sourceIp"]
    ours["requestContext"]["requestTimeEpoch"] = "1428582896000"
    assert differences(real, ours, {}) == [
        "requestContext: 'requestTimeEpoch' is string, not number",
        "requestContext.identity: no 'sourceIp'",
    ]


def test_headers_and_query_come_in_both_forms_as_in_a_real_event() -> None:
    real = sample("apigateway-proxy.powertools.json")
    ours = ours_for(real)
    assert ours["multiValueHeaders"] == real["multiValueHeaders"]
    assert ours["multiValueQueryStringParameters"] == real["multiValueQueryStringParameters"]
    # The single-value forms keep the last value of a repeated name. The sample holds the last
    # for header2 but the first for parameter1 (so does the example in AWS's guide): we keep the
    # last for both, as the sample's headers do.
    assert ours["headers"] == {"header1": "value1", "header2": "value2"}
    assert ours["queryStringParameters"] == {"parameter1": "value2", "parameter2": "value"}


def test_no_headers_no_query_and_no_body_are_null_as_in_a_real_event() -> None:
    event = proxy_event(Route("GET", "/health"), {}, method="GET", path="/health")
    nulls = ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters",
             "pathParameters", "stageVariables", "body")
    assert {key: event[key] for key in nulls} == dict.fromkeys(nulls)
    assert event["isBase64Encoded"] is False


def test_a_text_body_is_passed_as_text_and_a_binary_one_base64_with_the_flag() -> None:
    route = Route("POST", "/vectorize")
    text = proxy_event(route, {}, method="POST", path="/vectorize", body='{"texts": ["é"]}'.encode())
    assert (text["body"], text["isBase64Encoded"]) == ('{"texts": ["é"]}', False)
    binary = proxy_event(route, {}, method="POST", path="/vectorize", body=b"\xff\x00\xfe")
    assert (binary["body"], binary["isBase64Encoded"]) == ("/wD+", True)
    real = sample("apigateway-aws-proxy.sam.json")  # a base64 body in a real event: a string, flagged
    assert (json_type(real["body"]), real["isBase64Encoded"]) == ("string", True)


def test_a_greedy_route_takes_the_rest_of_the_path_without_its_leading_slash() -> None:
    real = sample("apigateway-aws-proxy.sam.json")
    event = ours_for(real)
    assert (event["resource"], event["requestContext"]["resourcePath"]) == ("/{proxy+}", "/{proxy+}")
    # The SAM sample writes "/path/to/resource"; API Gateway leaves the leading slash out.
    assert event["pathParameters"] == {"proxy": real["pathParameters"]["proxy"].lstrip("/")}


@pytest.mark.parametrize(
    ("path", "resource", "params"),
    [
        ("/models/sentence-transformers/all-MiniLM-L6-v2", "/models/{model+}",
         {"model": "sentence-transformers/all-MiniLM-L6-v2"}),
        ("/models/org/name/pipeline/feature-extraction", "/models/{model+}",
         {"model": "org/name/pipeline/feature-extraction"}),
        ("/pipeline/feature-extraction/org/name", "/pipeline/feature-extraction/{model+}", {"model": "org/name"}),
        ("/jobs/j-1/vectors", "/jobs/{jobId}/vectors", {"jobId": "j-1"}),
    ],
)
def test_the_templates_routes_give_the_path_parameters_api_gateway_would(
    path: str, resource: str, params: dict[str, str]
) -> None:
    routes = [Route(method, route) for method, route in api_routes(load_template(), "ApiFunction")]
    method = "GET" if path.startswith("/jobs") else "POST"
    route, found = find_route(routes, method, path)
    event = proxy_event(route, found, method=method, path=path)
    assert (event["resource"], event["pathParameters"]) == (resource, params)


def test_the_callers_api_key_and_user_agent_reach_the_identity() -> None:
    event = proxy_event(Route("GET", "/health"), {}, method="GET", path="/health",
                        headers={"x-api-key": "k-123", "User-Agent": "curl/8"})
    identity = event["requestContext"]["identity"]
    assert (identity["apiKey"], identity["userAgent"], identity["sourceIp"]) == ("k-123", "curl/8", "127.0.0.1")
