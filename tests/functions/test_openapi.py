"""The service describes itself: the OpenAPI document, its committed copy, and Swagger UI."""

from __future__ import annotations

import re

from local.template_stack import api_routes, load_template
from scripts.write_docs import OPENAPI, QUEUE_MESSAGE_SCHEMA, openapi_document, queue_message_schema, render
from tests.function_harness import Harness

SELF_DESCRIPTION = {"/openapi.json", "/swagger"}


def openapi_path(template_path: str) -> str:
    # API Gateway's greedy `{name+}` is plain `{name}` in OpenAPI.
    return re.sub(r"\{(\w+)\+\}", r"{\1}", template_path)


def test_committed_documents_are_current() -> None:
    assert OPENAPI.read_text(encoding="utf-8") == render(openapi_document()), "run `make docs`"
    assert QUEUE_MESSAGE_SCHEMA.read_text(encoding="utf-8") == render(queue_message_schema()), "run `make docs`"


def test_queue_message_schema_names_the_public_fields() -> None:
    schema = queue_message_schema()
    assert set(schema["required"]) == {"jobId", "chunk", "items"}
    assert {"version", "jobId", "chunk", "chunks", "total", "config", "purpose", "items", "sealedToken",
            "signature"} == set(
        schema["properties"])
    assert schema["additionalProperties"] is False


def test_every_deployed_route_is_documented_with_its_method() -> None:
    paths = openapi_document()["paths"]
    routes = [(m, p) for m, p in api_routes(load_template(), "ApiFunction") if p not in SELF_DESCRIPTION]
    assert routes
    missing = [(m, p) for m, p in routes if m.lower() not in paths.get(openapi_path(p), {})]
    assert missing == []


def test_vectorize_documents_its_body_answers_and_error_shape() -> None:
    document = openapi_document()
    operation = document["paths"]["/vectorize"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VectorizeRequest"}
    for status in ("400", "401", "403", "413", "422", "502", "503", "504"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, status
    request_fields = document["components"]["schemas"]["VectorizeRequest"]["properties"]
    assert {"config", "class", "texts", "objects", "ids", "purpose", "mode"} <= set(request_fields)
    assert document["components"]["securitySchemes"]["huggingfaceToken"]["name"] == "X-Huggingface-Api-Key"


def test_the_function_serves_the_same_document(harness: Harness) -> None:
    answer = harness.api("GET", "/openapi.json")
    assert answer.status == 200
    assert answer.body == openapi_document()


def test_swagger_ui_is_served_with_the_document_inline(harness: Harness) -> None:
    answer = harness.api_raw("GET", "/swagger")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    page = answer.body.decode()
    assert "SwaggerUIBundle" in page
    assert '"/vectorize"' in page
    # Served inline, not from a CDN: the page works with no internet access.
    assert "unpkg.com" not in page and "cdn.jsdelivr" not in page
