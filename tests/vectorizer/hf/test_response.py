"""Decoding HF feature-extraction answers, and classifying HF's failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vectorizer.errors import HuggingFaceError
from vectorizer.hf.response import (
    MAX_ERROR_CHARS,
    classify_failure,
    decode_json,
    error_text,
    estimated_time,
    parse_embeddings,
    retry_after_seconds,
)


def bad(payload: Any, expected: int) -> HuggingFaceError:
    with pytest.raises(HuggingFaceError) as caught:
        parse_embeddings(payload, expected)
    error = caught.value
    assert (error.status, error.code, error.retryable, error.item_specific) == (502, "hf_bad_response", False, False)
    assert error.message.startswith("Hugging Face returned an unusable answer: ")
    return error


# ------------------------------------------------------------------ accepted shapes


def test_two_d_array_is_one_vector_per_input() -> None:
    assert parse_embeddings([[1, 2.5, -3], [0.0, 0.25, 7]], 2) == [[1.0, 2.5, -3.0], [0.0, 0.25, 7.0]]


def test_integers_become_floats() -> None:
    vectors = parse_embeddings([[1, 2]], 1)
    assert vectors == [[1.0, 2.0]]
    assert all(type(value) is float for value in vectors[0])


def test_one_d_array_is_the_vector_of_a_single_input() -> None:
    assert parse_embeddings([0.5, -0.5, 1.0], 1) == [[0.5, -0.5, 1.0]]


def test_one_d_array_for_two_inputs_is_a_count_mismatch() -> None:
    assert bad([0.5, -0.5], 2).message.endswith("1 vectors for 2 inputs")


def test_embeddings_object_is_unwrapped() -> None:
    assert parse_embeddings({"embeddings": [[1, 2], [3, 4]]}, 2) == [[1.0, 2.0], [3.0, 4.0]]


def test_three_d_token_vectors_are_mean_pooled_per_input() -> None:
    payload = [
        [[1, 2, 3], [3, 4, 5]],            # input 0: two tokens
        [[0, 0, 0], [3, 6, 9], [6, 3, 0]],  # input 1: three tokens
    ]
    assert parse_embeddings(payload, 2) == [[2.0, 3.0, 4.0], [3.0, 3.0, 3.0]]


def test_three_d_with_one_token_is_that_token() -> None:
    assert parse_embeddings([[[0.25, -1.5]]], 1) == [[0.25, -1.5]]


def test_four_d_with_outer_length_one_is_pooled() -> None:
    payload = [[
        [[1, 10], [3, 20], [5, 30]],
        [[-1, 1], [1, -1]],
    ]]
    assert parse_embeddings(payload, 2) == [[3.0, 20.0], [0.0, 0.0]]


def test_four_d_with_one_matrix_per_input_is_pooled() -> None:
    payload = [
        [[[2, 4], [4, 8]]],
        [[[1, 1], [1, 1], [4, 7]]],
        [[[9, 9]]],
    ]
    assert parse_embeddings(payload, 3) == [[3.0, 6.0], [2.0, 3.0], [9.0, 9.0]]


def test_four_d_in_embeddings_object_is_pooled() -> None:
    assert parse_embeddings({"embeddings": [[[[0, 2], [2, 4]]]]}, 1) == [[1.0, 3.0]]


# ------------------------------------------------------------------ refused shapes


def test_count_mismatch_is_refused() -> None:
    assert bad([[1, 2], [3, 4], [5, 6]], 2).message == (
        "Hugging Face returned an unusable answer: 3 vectors for 2 inputs"
    )


def test_ragged_two_d_is_refused() -> None:
    assert bad([[1, 2, 3], [4, 5]], 2).message.endswith("vectors of different lengths (a ragged array)")


def test_ragged_pooled_vectors_are_refused() -> None:
    assert bad([[[1, 2, 3]], [[4, 5]]], 2).message.endswith("(a ragged array)")


def test_ragged_tokens_within_one_input_are_refused() -> None:
    assert bad([[[1, 2], [3, 4, 5]]], 1).message.endswith("token vectors of different lengths")


@pytest.mark.parametrize("payload", [[[1, "2"]], [[1, None]], [[True, 0.5]], [["a", "b"]], [[1, {"x": 1}]]])
def test_non_numeric_values_are_refused(payload: Any) -> None:
    assert bad(payload, 1).message.endswith("a vector with a non-numeric value")


@pytest.mark.parametrize("text", ["[[1.0, NaN]]", "[[Infinity, 1.0]]", "[[-Infinity, 1.0]]", "[[1e400, 0]]"])
def test_non_finite_values_are_refused(text: str) -> None:
    assert bad(json.loads(text), 1).message.endswith("a vector with a non-finite value")


def test_integer_too_large_for_a_float_is_a_bad_response_not_a_crash() -> None:
    # json.loads keeps `1000...0` (no exponent) as a Python int; float() of it overflows.
    payload = json.loads("[[1" + "0" * 400 + ", 2]]")
    bad(payload, 1)


@pytest.mark.parametrize(
    ("payload", "tail"),
    [
        ([], "an empty array"),
        ([[]], "an empty array"),
        ({"embeddings": []}, "an empty array"),
        ({"vectors": [[1]]}, "an object without 'embeddings'"),
        ("oops", "a str instead of an array"),
        (None, "a NoneType instead of an array"),
        (3.5, "a float instead of an array"),
        ([[[[[1.0]]]]], "a 5-D array"),
        ([[[[1.0]]], [[[2.0]], [[3.0]]]], "a 4-D array whose outer length is not 1"),
    ],
)
def test_unusable_shapes_are_refused(payload: Any, tail: str) -> None:
    assert bad(payload, 1).message.endswith(tail)


def test_mixed_depth_rows_are_refused() -> None:
    assert bad([[1, 2], [[1, 2]]], 2).message.endswith("a vector with a non-numeric value")
    assert bad([[[1, 2]], [3, 4]], 2).message.endswith("a vector that is not a non-empty array of numbers")


def test_decode_json() -> None:
    assert decode_json(b'{"embeddings": [[1]]}') == {"embeddings": [[1]]}
    for body in (b"<html>502 Bad Gateway</html>", b"\xff\xfe\x00", b""):
        with pytest.raises(HuggingFaceError) as caught:
            decode_json(body)
        assert caught.value.code == "hf_bad_response"
        assert caught.value.message.endswith("a body that is not JSON")


def test_a_body_that_is_not_json_is_a_passing_failure() -> None:
    # Not HF's answer but something in between (a proxy's HTML page): worth another try, like a 502.
    with pytest.raises(HuggingFaceError) as caught:
        decode_json(b"<html><body>502 Bad Gateway</body></html>")
    error = caught.value
    assert (error.status, error.code, error.retryable, error.item_specific) == (502, "hf_bad_response", True, False)


def test_json_nested_past_the_parsers_depth_is_a_bad_response_not_a_crash() -> None:
    with pytest.raises(HuggingFaceError) as caught:
        decode_json(b"[" * 100_000 + b"]" * 100_000)
    assert (caught.value.code, caught.value.retryable) == ("hf_bad_response", False)
    assert caught.value.message.endswith("JSON nested too deeply to be embeddings")


def test_an_error_body_nested_past_the_parsers_depth_is_still_classified() -> None:
    # HF's error text is read with json.loads too; a RecursionError there was a 500.
    body = b"[" * 100_000
    error = classify_failure(500, body, None)
    assert (error.status, error.code, error.retryable) == (502, "hf_upstream_error", True)
    assert error.message == f"Hugging Face failed with status 500: {'[' * MAX_ERROR_CHARS}"
    assert estimated_time(body) is None


# ------------------------------------------------------------------ HF's words


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"error": "Model is loading"}', "Model is loading"),
        (b'{"error": ["first problem", "second problem"]}', "first problem; second problem"),
        (b'["a", "b"]', "a; b"),
        (b"upstream connect error", "upstream connect error"),
        (b"  \n ", "no message"),
        (b"", "no message"),
        (b'{"error": ""}', "no message"),
        (b'{"message": "x"}', "{'message': 'x'}"),
    ],
)
def test_error_text(body: bytes, text: str) -> None:
    assert error_text(body) == text


def test_error_text_is_capped() -> None:
    assert error_text(json.dumps({"error": "e" * 2000}).encode()) == "e" * MAX_ERROR_CHARS


@pytest.mark.parametrize(
    ("body", "seconds"),
    [
        (b'{"error": "loading", "estimated_time": 20.5}', 20.5),
        (b'{"estimated_time": 3}', 3.0),
        (b'{"estimated_time": -4}', 0.0),
        (b'{"estimated_time": "20"}', None),
        (b'{"estimated_time": true}', None),
        (b'{"estimated_time": NaN}', None),
        (b'{"error": "loading"}', None),
        (b"[1, 2]", None),
        (b"not json", None),
    ],
)
def test_estimated_time(body: bytes, seconds: float | None) -> None:
    assert estimated_time(body) == seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (" 2.5 ", 2.5), ("-3", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("nan", None),
     ("inf", None), (None, None)],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


# ------------------------------------------------------------------ classification


def shape(error: HuggingFaceError) -> tuple[int, str, bool, bool, float | None]:
    return error.status, error.code, error.retryable, error.item_specific, error.retry_after


def test_503_loading_with_estimated_time() -> None:
    error = classify_failure(503, b'{"error": "Model x is currently loading", "estimated_time": 42.4}', "5")
    assert shape(error) == (503, "hf_model_loading", True, False, 42.4)
    assert error.message == (
        "Hugging Face model is loading or unavailable: Model x is currently loading (estimated time 42 s)"
    )


def test_503_without_estimated_time_falls_back_to_retry_after() -> None:
    error = classify_failure(503, b'{"error": "Service Unavailable"}', "5")
    assert shape(error) == (503, "hf_model_loading", True, False, 5.0)
    assert error.message == "Hugging Face model is loading or unavailable: Service Unavailable"


def test_429_rate_limited_honours_retry_after() -> None:
    error = classify_failure(429, b'{"error": "Rate limit reached. You reached free usage limit"}', "12")
    assert shape(error) == (429, "hf_rate_limited", True, False, 12.0)
    assert error.message == "Hugging Face rate limit reached: Rate limit reached. You reached free usage limit"
    assert classify_failure(429, b"", None).retry_after is None


def test_401_token_rejected_is_not_retried() -> None:
    error = classify_failure(401, b'{"error": "Invalid credentials in Authorization header"}', None)
    assert shape(error) == (401, "hf_token_rejected", False, False, None)
    assert error.message == "Hugging Face rejected the token: Invalid credentials in Authorization header"


def test_403_forbidden() -> None:
    error = classify_failure(403, b'{"error": "gated repo"}', None)
    assert shape(error) == (502, "hf_forbidden", False, False, None)
    assert error.message == "Hugging Face refused access with this token: gated repo"


def test_404_unknown_model_is_the_callers_400() -> None:
    error = classify_failure(404, b'{"error": "Model a/b does not exist"}', None)
    assert shape(error) == (400, "hf_model_not_found", False, False, None)
    assert error.message == "Hugging Face has no such model or endpoint: Model a/b does not exist"


@pytest.mark.parametrize(("status", "ours"), [(400, 400), (422, 400), (413, 413)])
def test_refused_input_is_item_specific(status: int, ours: int) -> None:
    error = classify_failure(status, b'{"error": "Input validation error: inputs too long"}', None)
    assert shape(error) == (ours, "hf_input_rejected", False, True, None)
    assert error.message == "Hugging Face refused the input: Input validation error: inputs too long"


def test_504_is_a_retryable_timeout() -> None:
    error = classify_failure(504, b"Gateway Timeout", None)
    assert shape(error) == (504, "hf_timeout", True, False, None)
    assert error.message == "Hugging Face timed out: Gateway Timeout"


@pytest.mark.parametrize("status", [500, 502, 520])
def test_other_5xx_are_retryable_upstream_errors(status: int) -> None:
    error = classify_failure(status, b'{"error": "boom"}', None)
    assert shape(error) == (502, "hf_upstream_error", True, False, None)
    assert error.message == f"Hugging Face failed with status {status}: boom"


@pytest.mark.parametrize("status", [302, 405, 418])
def test_unexpected_status_is_not_retried(status: int) -> None:
    error = classify_failure(status, b"", None)
    assert shape(error) == (502, "hf_unexpected_status", False, False, None)
    assert error.message == f"Hugging Face answered with unexpected status {status}: no message"
