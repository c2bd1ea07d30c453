"""OpenAI's /v1/embeddings protocol: parsing, base64 exactness, the answer's shape, errors."""

from __future__ import annotations

import base64
import json
import struct
import sys
from array import array

import pytest

from vectorizer.errors import HuggingFaceError, InvalidConfigError, MissingTokenError, PayloadTooLargeError
from vectorizer.protocols import openai_embeddings as openai
from vectorizer.protocols.embedding_call import DimensionsError, EmbeddingResult
from vectorizer.settings import settings_from

SETTINGS = settings_from({"HF_API_BASE_URL": "https://hf.example/hf-inference", "DEFAULT_MODEL": "org/default"})
MODEL = "BAAI/bge-small-en-v1.5"
TOKEN = "hf_openaiTOKENabcdefghijklmnop0123"


def parse(body: object) -> openai.OpenAIEmbeddingsRequest:
    return openai.parse_request(json.dumps(body))


# ------------------------------------------------------------------------------------- parsing


def test_the_sdks_request_parses() -> None:
    request = parse({"input": ["a", "b"], "model": MODEL, "encoding_format": "base64", "dimensions": 3,
                     "user": "me", "extra_thing": 1})
    assert (request.texts, request.model, request.encoding_format, request.dimensions) == (
        ["a", "b"], MODEL, "base64", 3)


def test_a_string_input_is_one_text_and_float_is_the_default_format() -> None:
    request = parse({"input": "hello", "model": MODEL})
    assert (request.texts, request.encoding_format) == (["hello"], "float")


def test_without_a_model_the_default_model_is_called() -> None:
    call = openai.build_call(parse({"input": "a"}), SETTINGS)
    assert call.target.model == "org/default"
    assert call.target.url == "https://hf.example/hf-inference/models/org/default/pipeline/feature-extraction"


def test_the_model_names_the_hf_model_and_dimensions_carry_over() -> None:
    call = openai.build_call(parse({"input": ["a"], "model": MODEL, "dimensions": 2}), SETTINGS)
    assert (call.target.model, call.texts, call.dimensions) == (MODEL, ["a"], 2)


def test_a_model_that_is_no_hub_id_is_refused() -> None:
    with pytest.raises(InvalidConfigError) as caught:
        openai.build_call(parse({"input": "a", "model": "a/b/c"}), SETTINGS)
    assert caught.value.code == "invalid_model"


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"input": [[101, 2023, 102]], "model": MODEL}, "input", "token ids"),
        ({"input": [101, 2023, 102], "model": MODEL}, "input", "check_embedding_ctx_length=False"),
        ({"input": "", "model": MODEL}, "input", "empty string"),
        ({"input": ["a", ""], "model": MODEL}, "input", "empty string"),
        ({"input": [], "model": MODEL}, "input", "empty list"),
        ({"model": MODEL}, "input", "Field required"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format", "encoding_format"),
        ({"input": "a", "dimensions": 0}, "dimensions", "dimensions"),
    ],
)
def test_bad_requests_are_400_with_the_param_named(body: dict, param: str, words: str) -> None:
    with pytest.raises(openai.InvalidRequest) as caught:
        parse(body)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert words in caught.value.message


@pytest.mark.parametrize("raw", ['{"input": ', "", "[1, 2]"])
def test_bodies_that_are_no_json_object_are_400(raw: str) -> None:
    with pytest.raises(openai.InvalidRequest) as caught:
        openai.parse_request(raw)
    assert caught.value.status == 400


# -------------------------------------------------------------------------------------- base64


def sdk_decode_numpy_free(data: str) -> list[float]:
    """The openai SDK without numpy: native-order float32 (little-endian on every machine it runs)."""
    values = array("f")
    values.frombytes(base64.b64decode(data))
    if sys.byteorder != "little":
        values.byteswap()
    return values.tolist()


def test_base64_is_little_endian_float32_bytes() -> None:
    vector = [1.0, -0.5, 0.25]
    encoded = openai.encode_base64(vector)
    assert base64.b64decode(encoded) == bytes.fromhex("0000803f" "000000bf" "0000803e")


@pytest.mark.parametrize("vector", [[0.5, -1.0, 0.0078125, 127 / 128], [-(2 ** -20), 3.0, 1e-3]])
def test_base64_decodes_to_the_float32_of_each_value(vector: list[float]) -> None:
    decoded = sdk_decode_numpy_free(openai.encode_base64(vector))
    assert decoded == [struct.unpack("<f", struct.pack("<f", value))[0] for value in vector]


def test_values_float32_holds_exactly_survive_base64_unchanged() -> None:
    vector = [(byte - 128) / 128 for byte in range(0, 256, 7)]
    assert sdk_decode_numpy_free(openai.encode_base64(vector)) == vector


# ------------------------------------------------------------------------------------- answers

RESULT = EmbeddingResult(model=MODEL, vectors=[[0.5, -0.25], [1.0, 0.0]])


def test_float_answer_has_openais_shape_in_input_order() -> None:
    answer = openai.answer(RESULT, parse({"input": ["Hello, world!", "two words"], "model": MODEL}))
    assert answer.status == 200
    assert answer.body == {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": [0.5, -0.25], "index": 0},
            {"object": "embedding", "embedding": [1.0, 0.0], "index": 1},
        ],
        "model": MODEL,
        "usage": {"prompt_tokens": 6, "total_tokens": 6},
    }


def test_base64_answer_decodes_to_the_vectors() -> None:
    answer = openai.answer(RESULT, parse({"input": ["a", "b"], "model": MODEL, "encoding_format": "base64"}))
    decoded = [sdk_decode_numpy_free(item["embedding"]) for item in answer.body["data"]]
    assert decoded == RESULT.vectors
    assert [item["index"] for item in answer.body["data"]] == [0, 1]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("Hello, world!", 4), ("", 0), ("one", 1), ("don't stop", 4), ("naïve café 42", 3)],
)
def test_token_counts_are_words_and_punctuation(text: str, tokens: int) -> None:
    assert openai.approximate_tokens(text) == tokens


# -------------------------------------------------------------------------------------- errors


def error_of(error, token: str | None = None):
    answer = openai.error_answer(error, token)
    assert set(answer.body) == {"error"}
    assert set(answer.body["error"]) == {"message", "type", "param", "code"}
    return answer.status, answer.body["error"], answer.headers


def test_schema_refusal() -> None:
    status, error, _ = error_of(openai.InvalidRequest("'input' holds token ids", param="input"))
    assert (status, error) == (400, {"message": "'input' holds token ids", "type": "invalid_request_error",
                                     "param": "input", "code": None})


def test_no_token_is_openais_invalid_api_key() -> None:
    status, error, _ = error_of(MissingTokenError("no Hugging Face token"))
    assert (status, error["type"], error["code"]) == (401, "invalid_request_error", "invalid_api_key")


def test_unknown_model_is_404_model_not_found() -> None:
    status, error, _ = error_of(HuggingFaceError("no such model", status=400, code="hf_model_not_found"))
    assert (status, error["param"], error["code"]) == (404, "model", "model_not_found")


def test_rate_limit_is_429_with_retry_after() -> None:
    status, error, headers = error_of(HuggingFaceError("rate", status=429, code="hf_rate_limited", retry_after=7))
    assert (status, error["type"], error["code"], headers) == (429, "requests", "rate_limit_exceeded",
                                                               {"Retry-After": "7"})


def test_loading_is_503_server_error_with_retry_after() -> None:
    status, error, headers = error_of(HuggingFaceError("loading", status=503, code="hf_model_loading", retry_after=3))
    assert (status, error["type"], error["code"], headers) == (503, "server_error", "model_loading",
                                                               {"Retry-After": "3"})


@pytest.mark.parametrize(("status", "code"), [(502, "hf_upstream_error"), (504, "hf_timeout"), (500, "internal_error")])
def test_upstream_failures_are_server_errors(status: int, code: str) -> None:
    answered, error, _ = error_of(HuggingFaceError("failed", status=status, code=code))
    assert (answered, error["type"], error["code"]) == (status, "server_error", code)


@pytest.mark.parametrize(
    ("error", "status", "param"),
    [
        (DimensionsError("dimensions 9 is more than the model's 8"), 400, "dimensions"),
        (PayloadTooLargeError("301 texts in one request; the limit is 300"), 413, "input"),
        (HuggingFaceError("input 2: refused", status=400, code="hf_input_rejected"), 400, "input"),
        (InvalidConfigError("not a model id", code="invalid_model"), 400, "model"),
    ],
)
def test_refusals_name_their_param(error, status: int, param: str) -> None:
    answered, body, _ = error_of(error)
    assert (answered, body["type"], body["param"]) == (status, "invalid_request_error", param)


def test_the_token_never_leaves_in_an_error() -> None:
    _, error, _ = error_of(HuggingFaceError(f"rejected {TOKEN}", status=401, code="hf_token_rejected"), TOKEN)
    assert TOKEN not in error["message"]
