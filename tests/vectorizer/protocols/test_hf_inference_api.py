"""The HF feature-extraction and TEI /embed protocols: parsing, the call they make, answers, errors."""

from __future__ import annotations

import json

import pytest

from vectorizer.config import FeatureParameters
from vectorizer.errors import HuggingFaceError, InvalidConfigError, MissingTokenError, PayloadTooLargeError
from vectorizer.hf.client import request_body, request_headers
from vectorizer.protocols import hf_inference_api as hf
from vectorizer.protocols.embedding_call import EmbeddingResult
from vectorizer.settings import settings_from

SETTINGS = settings_from({"HF_API_BASE_URL": "https://hf.example/hf-inference"})
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TOKEN = "hf_protocolTOKENabcdefghijklmnop012"


def parse(body: object) -> hf.HFRequest:
    return hf.parse_request(json.dumps(body))


def call_for(body: object, headers: dict[str, str] | None = None, flavor: hf.Flavor = "hf", model: str = MODEL):
    return hf.build_call(parse(body), model, headers or {}, SETTINGS, flavor)


# ------------------------------------------------------------------------------------- parsing


def test_a_bare_string_is_one_text_and_single() -> None:
    request = parse({"inputs": "hello"})
    assert (request.texts, request.single) == (["hello"], True)


def test_a_list_is_many_texts_and_not_single() -> None:
    request = parse({"inputs": ["a", "b"]})
    assert (request.texts, request.single) == (["a", "b"], False)


def test_parameters_are_read_at_the_root_and_under_parameters_root_winning() -> None:
    request = parse({
        "inputs": "x", "normalize": False, "truncation_direction": "left",
        "parameters": {"normalize": True, "truncate": True, "prompt_name": "query", "dimensions": 4},
    })
    merged = request.merged_parameters()
    assert (merged.normalize, merged.truncate, merged.truncation_direction, merged.prompt_name, merged.dimensions) == (
        False, True, "Left", "query", 4)


def test_unknown_keys_are_ignored() -> None:
    request = parse({"inputs": ["a"], "model": "whatever", "options": {"use_gpu": True, "frobnicate": 1},
                     "parameters": {"top_k": 3}, "encoding_format": "float"})
    assert request.texts == ["a"]


@pytest.mark.parametrize(
    ("raw", "error", "words"),
    [
        ('{"inputs": [', hf.InvalidBody, "not valid JSON"),
        ("", hf.InvalidBody, "not valid JSON"),
        ('["a"]', hf.InvalidBody, "JSON object with 'inputs'"),
        ("{}", hf.InvalidBody, "inputs: Field required"),
        ('{"inputs": []}', hf.EmptyInput, "'inputs' cannot be empty"),
        ('{"inputs": [1, 2, 3]}', hf.InvalidBody, "token ids"),
        ('{"inputs": [[101, 2023, 102]]}', hf.InvalidBody, "token ids"),
        ('{"inputs": ["a", 2]}', hf.InvalidBody, "a string or a non-empty list of strings"),
        ('{"inputs": {"text": "a"}}', hf.InvalidBody, "a string or a non-empty list of strings"),
        ('{"inputs": "a", "dimensions": 0}', hf.InvalidBody, "dimensions"),
        ('{"inputs": "a", "truncation_direction": "middle"}', hf.InvalidBody, "truncation_direction"),
        ('{"inputs": "a", "options": {"wait_for_model": "perhaps"}}', hf.InvalidBody, "options.wait_for_model"),
    ],
)
def test_bad_bodies_are_400s_that_name_the_problem(raw: str, error: type, words: str) -> None:
    with pytest.raises(error) as caught:
        hf.parse_request(raw)
    assert caught.value.status == 400
    assert words in caught.value.message


def test_a_refusal_never_echoes_the_input() -> None:
    with pytest.raises(hf.InvalidBody) as caught:
        hf.parse_request(json.dumps({"inputs": ["secret text", 7]}))
    assert "secret text" not in caught.value.message


# ------------------------------------------------------------------------------- the HF call


@pytest.mark.parametrize(
    ("value", "flag"),
    [("true", True), ("1", True), ("TRUE", True), ("false", False), ("0", False), (None, None), ("yes", None),
     ("", None)],
)
def test_header_flags(value: str | None, flag: bool | None) -> None:
    assert hf.header_flag(value) is flag


def test_the_call_targets_the_models_feature_extraction_url() -> None:
    call = call_for({"inputs": ["a", "b"]})
    assert call.target.url == f"https://hf.example/hf-inference/models/{MODEL}/pipeline/feature-extraction"
    assert (call.target.model, call.texts, call.dimensions) == (MODEL, ["a", "b"], None)


def test_body_options_reach_the_target() -> None:
    options = call_for({"inputs": "a", "options": {"wait_for_model": True, "use_cache": False, "use_gpu": True}})
    assert options.target.options.model_dump() == {"wait_for_model": True, "use_gpu": True, "use_cache": False}


@pytest.mark.parametrize(
    ("options", "headers", "wait", "cache"),
    [
        (None, {}, False, True),
        (None, {"x-wait-for-model": "true"}, True, True),
        (None, {"X-Wait-For-Model": "1", "X-Use-Cache": "0"}, True, False),
        (None, {"x-use-cache": "false"}, False, False),
        ({"wait_for_model": True, "use_cache": False}, {}, True, False),
        # a header beats the body
        ({"wait_for_model": True, "use_cache": False}, {"x-wait-for-model": "false", "x-use-cache": "true"}, False,
         True),
        # a header value that is neither true/1 nor false/0 leaves the body's choice
        ({"wait_for_model": True}, {"x-wait-for-model": "maybe"}, True, True),
    ],
)
def test_headers_set_and_override_the_options(options, headers: dict[str, str], wait: bool, cache: bool) -> None:
    body = {"inputs": "a", **({"options": options} if options else {})}
    call = call_for(body, headers)
    assert (call.target.options.wait_for_model, call.target.options.use_cache) == (wait, cache)


def test_options_become_hf_headers_and_body() -> None:
    target = call_for({"inputs": "a"}, {"x-wait-for-model": "1", "x-use-cache": "0"}).target
    headers = request_headers(TOKEN, target)
    assert headers["x-wait-for-model"] == "true" and headers["x-use-cache"] == "false"
    assert json.loads(request_body(["a"], target))["options"] == {
        "wait_for_model": True, "use_gpu": False, "use_cache": False}


def test_parameters_are_forwarded_at_the_root_of_hfs_body() -> None:
    parameters = {"normalize": True, "prompt_name": "query", "truncation_direction": "right"}
    target = call_for({"inputs": "a", "truncate": True, "parameters": parameters}).target
    assert target.parameters == FeatureParameters(normalize=True, truncate=True, truncation_direction="Right",
                                                  prompt_name="query")
    assert json.loads(request_body(["a"], target)) == {
        "inputs": ["a"], "options": {"wait_for_model": False, "use_gpu": False, "use_cache": True},
        "normalize": True, "truncate": True, "truncation_direction": "Right", "prompt_name": "query",
    }


def test_without_parameters_the_body_is_exactly_vectorizes() -> None:
    target = call_for({"inputs": ["a"]}).target
    assert json.loads(request_body(["a"], target)) == {
        "inputs": ["a"], "options": {"wait_for_model": False, "use_gpu": False, "use_cache": True}}


def test_dimensions_stay_here_and_are_not_forwarded() -> None:
    call = call_for({"inputs": "a", "parameters": {"dimensions": 3}})
    assert call.dimensions == 3
    assert "dimensions" not in json.loads(request_body(["a"], call.target))


def test_tei_normalises_unless_told_not_to() -> None:
    assert call_for({"inputs": "a"}, flavor="tei").target.parameters.normalize is True
    assert call_for({"inputs": "a", "normalize": False}, flavor="tei").target.parameters.normalize is False
    assert call_for({"inputs": "a"}, flavor="hf").target.parameters.normalize is None


@pytest.mark.parametrize("model", ["a/b/c", "../etc", "owner/", "has space"])
def test_a_model_that_is_no_hub_id_is_refused(model: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        call_for({"inputs": "a"}, model=model)
    assert (caught.value.status, caught.value.code) == (400, "invalid_model")
    assert "is not a Hugging Face model id" in caught.value.message


# ----------------------------------------------------------------------------------- answers

RESULT = EmbeddingResult(model=MODEL, vectors=[[0.5, -0.25], [1.0, 0.0]])


def test_hf_answers_1d_for_a_bare_string_and_2d_for_a_list() -> None:
    single = EmbeddingResult(model=MODEL, vectors=[[0.5, -0.25]])
    assert hf.answer(single, True, "hf").body == [0.5, -0.25]
    assert hf.answer(single, False, "hf").body == [[0.5, -0.25]]
    assert hf.answer(RESULT, False, "hf").body == [[0.5, -0.25], [1.0, 0.0]]


def test_tei_always_answers_2d() -> None:
    single = EmbeddingResult(model=MODEL, vectors=[[0.5, -0.25]])
    answer = hf.answer(single, True, "tei")
    assert (answer.status, answer.body) == (200, [[0.5, -0.25]])


# ------------------------------------------------------------------------------------ errors


def loading(wait: float | None) -> HuggingFaceError:
    return HuggingFaceError("Hugging Face model is loading or unavailable: Model x is currently loading",
                            status=503, code="hf_model_loading", retryable=True, retry_after=wait)


def test_loading_is_503_with_estimated_time_and_retry_after() -> None:
    answer = hf.error_answer(loading(12.4), "hf")
    assert answer.status == 503
    assert answer.body == {"error": loading(None).message, "estimated_time": 12.4}
    assert answer.headers == {"Retry-After": "13"}


def test_loading_without_an_estimate_still_says_when_to_come_back() -> None:
    answer = hf.error_answer(loading(None), "hf")
    assert (answer.body["estimated_time"], answer.headers["Retry-After"]) == (20.0, "20")


def test_a_503_that_is_not_loading_is_not_answered_as_503() -> None:
    answer = hf.error_answer(HuggingFaceError("other", status=503, code="something_else"), "hf")
    assert answer.status == 502 and "estimated_time" not in answer.body


@pytest.mark.parametrize(("wait", "header"), [(2.5, "3"), (0.0, "1"), (None, "5")])
def test_rate_limits_are_429_with_retry_after(wait: float | None, header: str) -> None:
    error = HuggingFaceError("Hugging Face rate limit reached: slow down", status=429, code="hf_rate_limited",
                             retryable=True, retry_after=wait)
    answer = hf.error_answer(error, "hf")
    assert (answer.status, answer.headers, answer.body) == (429, {"Retry-After": header}, {"error": error.message})


def test_an_unknown_model_is_404() -> None:
    error = HuggingFaceError("Hugging Face has no such model or endpoint: Not Found", status=400,
                             code="hf_model_not_found")
    assert hf.error_answer(error, "hf").status == 404


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (hf.InvalidBody("inputs: Field required"), 422, "Validation"),
        (hf.EmptyInput("'inputs' cannot be empty"), 400, "Empty"),
        (PayloadTooLargeError("301 texts in one request; the limit is 300"), 413, "Validation"),
        (MissingTokenError("no Hugging Face token"), 401, "Validation"),
        (HuggingFaceError("rate", status=429, code="hf_rate_limited"), 429, "Overloaded"),
        (loading(1.0), 503, "Unhealthy"),
        (HuggingFaceError("boom", status=502, code="hf_upstream_error"), 502, "Backend"),
        (HuggingFaceError("slow", status=504, code="hf_timeout"), 504, "Backend"),
    ],
)
def test_tei_errors_carry_an_error_type(error, status: int, error_type: str) -> None:
    answer = hf.error_answer(error, "tei")
    assert (answer.status, answer.body["error_type"], answer.body["error"]) == (status, error_type, error.message)


def test_hf_errors_have_no_error_type_and_bad_bodies_are_400() -> None:
    answer = hf.error_answer(hf.InvalidBody("inputs: Field required"), "hf")
    assert (answer.status, answer.body) == (400, {"error": "inputs: Field required"})


def test_the_token_never_leaves_in_an_error() -> None:
    error = HuggingFaceError(f"Hugging Face rejected the token: bad token {TOKEN}", status=401,
                             code="hf_token_rejected")
    for flavor in ("hf", "tei"):
        assert TOKEN not in json.dumps(hf.error_answer(error, flavor, TOKEN).body)
