"""The service against its own OpenAPI document, fuzzed by Schemathesis through the local stack.

Every operation `/openapi.json` describes gets a bounded number of generated requests (from the
document's schemas, so mostly valid ones, plus its examples) over real HTTP; each answer must be
below 500 and must conform to the document: a documented status, its content type, its headers
and its body schema.

Schemathesis' own pytest integration for a schema behind a fixture (`schemathesis.pytest.
from_fixture`) sets pytest's private `Function._nodeid`, which pytest 9 no longer has, so each
operation's strategy is driven with Hypothesis here instead; every failing operation is reported.
"""

from __future__ import annotations

import re

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.api_gateway import Route, find_route
from local.launcher import ReadyStack
from local.template_stack import api_routes, load_template

pytestmark = pytest.mark.e2e

# Bounded so the whole run stays within a few minutes on two cores with the real model.
EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_headers_conformance, response_schema_conformance,
]
# Routes that describe the service rather than being part of it: not in the document.
SELF_DESCRIPTION = {"/openapi.json", "/swagger"}


def first_failure(operation: schemathesis.APIOperation, base_url: str) -> str | None:
    """Fuzz one operation; returns Schemathesis' report of its first (shrunk) failure, or None."""

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate],
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=60)

    try:
        fuzz()
    # Schemathesis reports several failures of one case as a FailureGroup, a BaseExceptionGroup.
    except (Exception, BaseExceptionGroup) as failure:
        return str(failure)
    return None


def test_every_operation_answers_below_500_and_as_documented(local_stack: ReadyStack) -> None:
    document = schemathesis.openapi.from_url(f"{local_stack.api}/openapi.json")
    operations = [result.ok() for result in document.get_all_operations()]
    documented = {(operation.method.upper(), operation.path) for operation in operations}
    deployed = {
        (method, path.replace("+}", "}"))
        for method, path in api_routes(load_template(), "ApiFunction") if path not in SELF_DESCRIPTION
    }
    # Every route of the template is fuzzed, and every documented operation reaches one of them
    # (`/models/{model}/pipeline/feature-extraction` is served by the greedy `/models/{model+}`).
    assert deployed <= documented
    routes = [Route(method, path) for method, path in api_routes(load_template(), "ApiFunction")]
    assert all(find_route(routes, method, re.sub(r"\{[^}]+\}", "x", path)) for method, path in documented)
    failures = {operation.label: first_failure(operation, local_stack.api) for operation in operations}
    failed = {label: report for label, report in failures.items() if report is not None}
    assert not failed, "\n\n".join(f"== {label}\n{report}" for label, report in failed.items())
