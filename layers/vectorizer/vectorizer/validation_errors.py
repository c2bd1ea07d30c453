"""Turning schema validation errors into the API's error answers.

Unparsable JSON and a bad module config are the caller's 400s; a body that parses but does not
fit the schema is a 422. The messages name the field and never echo the input back (it could
hold a token or a private text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vectorizer.errors import VectorizerError

MAX_LISTED = 10


def _where(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if part != "body"]
    return ".".join(parts) or "body"


def describe_validation_errors(errors: Sequence[dict[str, Any]]) -> VectorizerError:
    """Takes pydantic's error dicts (`type`, `loc`, `msg`); returns the one error to answer with.

    400 `bad_json` if the body did not parse, 400 `invalid_config` naming the first bad config
    field, else 422 `validation_error` listing up to MAX_LISTED fields with pydantic's messages.
    """
    if any(error.get("type") == "json_invalid" for error in errors):
        return VectorizerError("the request body is not valid JSON", status=400, code="bad_json")
    config_errors = [e for e in errors if tuple(e.get("loc", ()))[:2] == ("body", "config")]
    if config_errors:
        first = config_errors[0]
        where = _where(first.get("loc", ()))
        return VectorizerError(f"{where}: {first.get('msg', 'invalid')}", status=400, code="invalid_config")
    listed = [f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:MAX_LISTED]]
    more = f" (and {len(errors) - MAX_LISTED} more)" if len(errors) > MAX_LISTED else ""
    return VectorizerError(
        "the request does not fit the schema: " + "; ".join(listed) + more, status=422, code="validation_error"
    )
