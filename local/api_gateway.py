"""HTTP requests as API Gateway (REST API, Lambda proxy integration) hands them to a function.

`proxy_event` builds the version 1.0 event a REST API sends for a request, and `http_answer`
reads a function's proxy result back into status, headers and body bytes, the way API Gateway
does. The local stack and the tests both speak to the API function through these two.
"""

from __future__ import annotations

import base64
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
