"""HTTP requests as API Gateway (REST API, Lambda proxy integration) hands them to a function.

`proxy_event` builds the version 1.0 event a REST API sends for a request, and `http_answer`
reads a function's proxy result back into status, headers and body bytes, the way API Gateway
does. The local stack and the tests both speak to the API function through these two.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STAGE = "Prod"
ACCOUNT_ID = "123456789012"
IAM_AND_COGNITO_IDENTITY = (
    "cognitoIdentityPoolId", "accountId", "cognitoIdentityId", "caller", "accessKey",
    "cognitoAuthenticationType", "cognitoAuthenticationProvider", "userArn", "user", "principalOrgId",
)


def resource_id(resource: str) -> str:
    """A stable six-character id for a resource path, standing in for API Gateway's resource ids."""
    return hashlib.sha256(resource.encode("utf-8")).hexdigest()[:6]


@dataclass(frozen=True)
class Route:
    """One method on one resource path of the REST API, as the template declares it."""

    method: str
    resource: str  # e.g. "/jobs/{jobId}/vectors" or "/models/{model+}"

    def __post_init__(self) -> None:
        # API Gateway refuses a greedy `{name+}` anywhere but at the end of a resource path; so
        # does this stand-in, so that a template path that cannot deploy cannot pass locally.
        parts = [part for part in self.resource.split("/") if part]
        if any(part.endswith("+}") for part in parts[:-1]):
            raise ValueError(f"{self.resource}: a greedy path variable must end the path")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route takes the request, else None."""
        if self.method not in (method.upper(), "ANY"):
            return None
        wanted = [part for part in self.resource.split("/") if part]
        given = [part for part in path.split("/") if part]
        params: dict[str, str] = {}
        for position, part in enumerate(wanted):
            if part.startswith("{") and part.endswith("+}"):
                rest = given[position:]
                if not rest:
                    return None
                params[part[1:-2]] = "/".join(rest)
                return params
            if position >= len(given):
                return None
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = given[position]
            elif part != given[position]:
                return None
        return params if len(given) == len(wanted) else None


def find_route(routes: Iterable[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The most specific route for a request: literal routes before greedy ones, as API Gateway does."""
    candidates = []
    for route in routes:
        params = route.match(method, path)
        if params is not None:
            candidates.append((route.resource.count("+"), -len(route.resource), route, params))
    if not candidates:
        return None
    _, _, route, params = min(candidates, key=lambda c: (c[0], c[1]))
    return route, params


def proxy_event(
    route: Route,
    path_parameters: Mapping[str, str],
    *,
    method: str,
    path: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    query: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The REST proxy event API Gateway would send for a request, as a dict ready to invoke with.

    Takes the matched route and its path parameters, the method, path, headers (a mapping or
    pairs; repeated names kept), query pairs, the body's bytes and the caller's address. The
    single-value maps keep the last value of a repeated name; a body that is not UTF-8 travels
    base64 with `isBase64Encoded`; empty parts are null, as in a real event.
    """
    header_pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    query_pairs = list(query)
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in header_pairs:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query_pairs:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    text_body: str | None = None
    is_base64 = False
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode("ascii"), True
    lowered = {k.lower(): v for k, v in single_headers.items()}
    domain = lowered.get("host", "localhost")
    now = time.time()
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource,
            "httpMethod": method.upper(),
            # Served at the root, as `sam local start-api` does: Powertools derives Swagger UI's server
            # URL from this, and a stage prefix here would point "Try it out" at /Prod/... locally.
            "path": path,
            "stage": STAGE,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": resource_id(route.resource),
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "identity": {
                # Null unless IAM or Cognito signs the request, which this API never asks for.
                **dict.fromkeys(IAM_AND_COGNITO_IDENTITY),
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent"),
                "apiKey": lowered.get("x-api-key"),
                "apiKeyId": None,
            },
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }


def http_answer(result: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body bytes from a Lambda proxy result, as API Gateway would send them."""
    status = int(result.get("statusCode", 200))
    headers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            headers.append((name, str(value)))
        seen.add(name.lower())
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in seen:
            headers.append((name, str(value)))
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
    return status, headers, body


# ------------------------------------------------------------------------------------------------
# API keys and REQUEST Lambda authorizers, as API Gateway applies them to a REST API's method.


@dataclass(frozen=True)
class MethodAuth:
    """What a method requires, as the template wires it: an API key, a Lambda authorizer, both."""

    api_key: bool = False
    authorizer: str | None = None  # the authorizer's function (logical id)
    key_source: str = "HEADER"  # the REST API's ApiKeySourceType: HEADER or AUTHORIZER


@dataclass(frozen=True)
class Refusal:
    """An answer API Gateway gives itself, without calling the integration."""

    status: int
    body: dict[str, Any]


FORBIDDEN = Refusal(403, {"message": "Forbidden"})
UNAUTHORIZED = Refusal(401, {"message": "Unauthorized"})
DENIED = Refusal(403, {"Message": "User is not authorized to access this resource with an explicit deny"})
AUTHORIZER_FAILED = Refusal(500, {"message": None})


def method_arn(event: Mapping[str, Any], region: str = "us-east-1") -> str:
    """The execute-api ARN of the method a proxy event calls (what a policy must allow)."""
    context = event["requestContext"]
    return (f"arn:aws:execute-api:{region}:{context['accountId']}:{context['apiId']}/{context['stage']}/"
            f"{event['httpMethod']}{event['path']}")


def authorizer_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer event for a proxy event: the same request, no body, plus methodArn."""
    context = {k: v for k, v in event["requestContext"].items() if k != "authorizer"}
    return {
        "type": "REQUEST",
        "methodArn": method_arn(event),
        **{k: event[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders",
                                 "queryStringParameters", "multiValueQueryStringParameters",
                                 "pathParameters", "stageVariables")},
        "requestContext": context,
    }


def _allows(answer: Mapping[str, Any], arn: str) -> bool:
    """Whether the authorizer's policy allows `arn` and denies nothing that covers it."""
    statements = (answer.get("policyDocument") or {}).get("Statement") or []
    allowed = False
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", action) for action in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(arn, resource) for resource in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def authorize_event(
    event: Mapping[str, Any], auth: MethodAuth, answer: Mapping[str, Any] | None, api_keys: Mapping[str, str],
) -> dict[str, Any] | Refusal:
    """The proxy event API Gateway hands the integration, or the refusal it answers instead.

    Takes the event, what the method requires, the authorizer's answer (None without an
    authorizer) and the valid keys (value -> key id). A policy that does not allow the method is
    403; a missing or unknown key 403 `{"message": "Forbidden"}`, as API Gateway answers. A passed
    request carries `requestContext.identity.apiKey`/`apiKeyId` and `requestContext.authorizer`
    (principalId and the authorizer's context).
    """
    passed = {**event, "requestContext": {**event["requestContext"],
                                          "identity": dict(event["requestContext"].get("identity") or {})}}
    if auth.authorizer is not None:
        if not isinstance(answer, Mapping) or "principalId" not in answer:
            return AUTHORIZER_FAILED
        if not _allows(answer, method_arn(event)):
            return DENIED
        passed["requestContext"]["authorizer"] = {"principalId": answer["principalId"],
                                                  **(answer.get("context") or {})}
    if auth.api_key:
        if auth.key_source == "AUTHORIZER":
            key = (answer or {}).get("usageIdentifierKey")
        else:
            key = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "x-api-key"), None)
        if not key or key not in api_keys:
            return FORBIDDEN
        passed["requestContext"]["identity"].update({"apiKey": key, "apiKeyId": api_keys[key]})
    return passed
