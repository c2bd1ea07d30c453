"""Decoding what a Hugging Face feature-extraction endpoint answers, and what it says on failure.

Pure functions: they take decoded JSON (or bytes) and return vectors or raise
`HuggingFaceError`, so every accepted and refused shape is covered by unit tests.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vectorizer.errors import HuggingFaceError

MAX_ERROR_CHARS = 500


def _bad_response(message: str) -> HuggingFaceError:
    return HuggingFaceError(
        f"Hugging Face returned an unusable answer: {message}", status=502, code="hf_bad_response"
    )


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list):
        if not value:
            raise _bad_response("an empty array")
        value = value[0]
        depth += 1
    return depth


# The largest finite float32: vectors are stored as little-endian float32.
FLOAT32_MAX = 3.4028234663852886e38


def _as_vector(row: Any) -> list[float]:
    if not isinstance(row, list) or not row:
        raise _bad_response("a vector that is not a non-empty array of numbers")
    vector = []
    for number in row:
        # bool is an int in Python, but `true` is no coordinate.
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise _bad_response("a vector with a non-numeric value")
        try:
            value = float(number)
        except OverflowError:  # an integer literal too large for a float, like 1000...0
            value = math.inf
        if not math.isfinite(value):
            raise _bad_response("a vector with a non-finite value")
        if abs(value) > FLOAT32_MAX:
            # Vectors are stored as float32: a value beyond its range could never be saved.
            raise _bad_response("a vector with a value beyond float32's range")
        vector.append(value)
    return vector


def _mean_pool(tokens: Any) -> list[float]:
    """Average token vectors into one: the answer of a model without a pooling layer."""
    if not isinstance(tokens, list) or not tokens:
        raise _bad_response("token vectors that are not a non-empty array")
    rows = [_as_vector(row) for row in tokens]
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise _bad_response("token vectors of different lengths")
    return [sum(column) / len(rows) for column in zip(*rows, strict=True)]


def parse_embeddings(payload: Any, expected: int) -> list[list[float]]:
    """Return one vector per input, in input order, from any shape HF is known to answer.

    Takes the decoded answer and the number of inputs sent. Accepted: a 2-D array; a 1-D array
    for a single input; `{"embeddings": [[...]]}`; 3-D token vectors (one matrix per input) and
    4-D ones with an outer length of 1, both mean-pooled. Raises HuggingFaceError (502) for any
    other shape, a count other than `expected`, or vectors of different lengths.
    """
    if isinstance(payload, dict):
        if "embeddings" not in payload:
            raise _bad_response("an object without 'embeddings'")
        payload = payload["embeddings"]
    if not isinstance(payload, list):
        raise _bad_response(f"a {type(payload).__name__} instead of an array")

    depth = _depth(payload)
    if depth == 1:
        vectors = [_as_vector(payload)]
    elif depth == 2:
        vectors = [_as_vector(row) for row in payload]
    elif depth == 3:
        vectors = [_mean_pool(matrix) for matrix in payload]
    elif depth == 4:
        if len(payload) == 1:
            vectors = [_mean_pool(matrix) for matrix in payload[0]]
        elif all(isinstance(item, list) and len(item) == 1 for item in payload):
            vectors = [_mean_pool(item[0]) for item in payload]
        else:
            raise _bad_response("a 4-D array whose outer length is not 1")
    else:
        raise _bad_response(f"a {depth}-D array")

    if len(vectors) != expected:
        raise _bad_response(f"{len(vectors)} vectors for {expected} inputs")
    width = len(vectors[0])
    if any(len(vector) != width for vector in vectors):
        raise _bad_response("vectors of different lengths (a ragged array)")
    return vectors


def decode_json(body: bytes) -> Any:
    """Takes a 200 answer's bytes; returns its JSON, or raises a retryable `hf_bad_response` (502).

    A 200 that is not JSON is not HF's answer but something in between (a proxy's or load
    balancer's HTML page), so it is passing like a 502, not a verdict on the inputs.
    """
    try:
        return json.loads(body)
    except RecursionError:
        raise _bad_response("JSON nested too deeply to be embeddings") from None
    except (ValueError, UnicodeDecodeError):
        error = _bad_response("a body that is not JSON")
        error.retryable = True
        raise error from None


def _loads_or_none(body: bytes) -> Any:
    """The JSON of an error body, or None when it is not JSON (or nested past the parser's depth)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def error_text(body: bytes) -> str:
    """HF's own words from an error answer: `{"error": "..."}`, a list of them, or plain text.

    Takes the answer's bytes; returns the text, cut to MAX_ERROR_CHARS (`no message` if empty).
    """
    decoded = _loads_or_none(body)
    if decoded is None:
        decoded = body.decode("utf-8", errors="replace")
    if isinstance(decoded, dict) and "error" in decoded:
        decoded = decoded["error"]
    if isinstance(decoded, list):
        decoded = "; ".join(str(item) for item in decoded)
    text = str(decoded).strip() or "no message"
    return text[:MAX_ERROR_CHARS]


def estimated_time(body: bytes) -> float | None:
    """Takes an answer's bytes; returns the `estimated_time` (seconds, >= 0) HF gives while a model loads, or None."""
    decoded = _loads_or_none(body)
    value = decoded.get("estimated_time") if isinstance(decoded, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return max(0.0, float(value))
    return None


def retry_after_seconds(header: str | None) -> float | None:
    """Takes a `Retry-After` header value; returns its seconds (>= 0), or None.

    HTTP-dates are rare on HF and are treated as absent, as are non-finite numbers.
    """
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    return max(0.0, value) if math.isfinite(value) else None


def classify_failure(status: int, body: bytes, retry_after_header: str | None) -> HuggingFaceError:
    """Turn an HF error answer into the error our caller sees, with HF's own message in it.

    Takes HF's status, body and `Retry-After` header; returns (does not raise) the error, with
    its status, code, and whether a retry (and after how long) or bisection can help.
    """
    text = error_text(body)
    if status == 503:
        wait = estimated_time(body)
        suffix = f" (estimated time {wait:.0f} s)" if wait is not None else ""
        return HuggingFaceError(
            f"Hugging Face model is loading or unavailable: {text}{suffix}",
            status=503, code="hf_model_loading", retryable=True,
            retry_after=wait if wait is not None else retry_after_seconds(retry_after_header),
        )
    if status == 429:
        return HuggingFaceError(
            f"Hugging Face rate limit reached: {text}", status=429, code="hf_rate_limited",
            retryable=True, retry_after=retry_after_seconds(retry_after_header),
        )
    if status == 401:
        return HuggingFaceError(
            f"Hugging Face rejected the token: {text}", status=401, code="hf_token_rejected"
        )
    if status == 403:
        return HuggingFaceError(
            # 502: this API's own 403 means "endpointURL not allowed"; this is HF refusing us.
            f"Hugging Face refused access with this token: {text}", status=502, code="hf_forbidden"
        )
    if status == 404:
        return HuggingFaceError(
            f"Hugging Face has no such model or endpoint: {text}", status=400, code="hf_model_not_found"
        )
    if status in (400, 413, 422):
        return HuggingFaceError(
            f"Hugging Face refused the input: {text}", status=400 if status != 413 else 413,
            code="hf_input_rejected", item_specific=True,
        )
    if status == 504:
        return HuggingFaceError(
            f"Hugging Face timed out: {text}", status=504, code="hf_timeout", retryable=True
        )
    if status >= 500:
        return HuggingFaceError(
            f"Hugging Face failed with status {status}: {text}", status=502, code="hf_upstream_error",
            retryable=True,
        )
    return HuggingFaceError(
        f"Hugging Face answered with unexpected status {status}: {text}", status=502,
        code="hf_unexpected_status",
    )
