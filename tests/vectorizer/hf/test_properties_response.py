"""Properties of reading HF's answers: whatever comes back, the result is one rectangular list of
finite float vectors per input, or a `HuggingFaceError`; never another exception.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectorizer.errors import HuggingFaceError
from vectorizer.hf.response import FLOAT32_MAX, classify_failure, decode_json, parse_embeddings

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = (
    st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-4e38, max_value=4e38)
)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["embeddings", "error"]) | st.text(max_size=6), inner, max_size=3),
    max_leaves=30,
)


def arrays(depth: int) -> st.SearchStrategy[Any]:
    """Nested lists of numbers `depth` deep, mostly rectangular: the shapes HF is known to answer."""
    strategy: st.SearchStrategy[Any] = numbers
    for _ in range(depth):
        strategy = st.lists(strategy, min_size=0, max_size=3)
    return strategy


answers = (
    json_values
    | st.integers(min_value=1, max_value=4).flatmap(arrays)
    | st.integers(min_value=1, max_value=4).flatmap(arrays).map(lambda a: {"embeddings": a})
)


def check_vectors(vectors: Any, expected: int) -> None:
    assert isinstance(vectors, list) and len(vectors) == expected
    widths = {len(vector) for vector in vectors}
    assert len(widths) == 1 and widths != {0}
    for vector in vectors:
        assert all(type(x) is float and math.isfinite(x) and abs(x) <= FLOAT32_MAX for x in vector)


@PROPERTY
@given(answers, st.integers(min_value=1, max_value=4))
def test_any_json_answer_parses_to_one_rectangular_vector_per_input_or_is_a_hf_error(
    payload: Any, expected: int
) -> None:
    try:
        vectors = parse_embeddings(payload, expected)
    except HuggingFaceError as error:
        assert (error.status, error.code) == (502, "hf_bad_response")
        return
    check_vectors(vectors, expected)


@PROPERTY
@given(answers, st.integers(min_value=1, max_value=4))
def test_any_answer_body_decodes_and_parses_or_is_a_hf_error(payload: Any, expected: int) -> None:
    body = json.dumps(payload).encode()
    try:
        vectors = parse_embeddings(decode_json(body), expected)
    except HuggingFaceError:
        return
    check_vectors(vectors, expected)


@PROPERTY
@given(st.binary(max_size=200) | st.text(max_size=100).map(str.encode))
def test_any_body_either_decodes_or_is_a_passing_bad_response(body: bytes) -> None:
    try:
        decode_json(body)
    except HuggingFaceError as error:
        assert (error.code, error.retryable) == ("hf_bad_response", True)


@PROPERTY
@given(
    st.integers(min_value=100, max_value=599),
    st.binary(max_size=200) | answers.map(lambda v: json.dumps(v).encode()),
    st.none() | st.text(max_size=10),
)
def test_any_failure_answer_is_classified(status: int, body: bytes, retry_after: str | None) -> None:
    error = classify_failure(status, body, retry_after)
    assert isinstance(error, HuggingFaceError)
    assert 400 <= error.status < 600
    assert error.retry_after is None or (math.isfinite(error.retry_after) and error.retry_after >= 0)
