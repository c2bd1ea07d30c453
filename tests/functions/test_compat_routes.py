"""The HF, TEI and OpenAI embedding routes through the API handler, on moto with the fake HF."""

from __future__ import annotations

import base64
import json
import math
import struct

import pytest

from local.api_gateway import http_answer
from local.lambda_context import LocalContext
from local.template_stack import ROOT
from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.fakes.fake_hf_server import DIMENSIONS, Faults, expected_vector
from tests.function_harness import Harness, emf_lines

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL = "sentence-transformers/msmarco-bert-base-dot-v5"  # the template's DefaultModel
TEXTS = ["The cat sat on the mat.", "A kitten plays with yarn.", "Cars need fuel."]
BEARER = {"Authorization": f"Bearer {CALLER_TOKEN}"}


def upstream(model: str) -> str:
    return f"/models/{model}/pipeline/feature-extraction"


def post(harness: Harness, path: str, body: object = None, *, raw: bytes | None = None, **headers: str):
    return harness.api("POST", path, body, headers=headers, raw_body=raw)


def floats32(data: str) -> list[float]:
    raw = base64.b64decode(data)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# ------------------------------------------------------------------------------ every HF route

HF_ROUTES = [
    (f"/models/{MODEL}", MODEL),
    (f"/models/{MODEL}/pipeline/feature-extraction", MODEL),
    (f"/pipeline/feature-extraction/{MODEL}", MODEL),
    ("/models/gpt2", "gpt2"),
    ("/models/gpt2/pipeline/feature-extraction", "gpt2"),
    ("/pipeline/feature-extraction/gpt2", "gpt2"),
    ("/models/sentence-transformers%2Fall-MiniLM-L6-v2", MODEL),  # the slash sent encoded
    ("/", DEFAULT_MODEL),
]


@pytest.mark.parametrize(("path", "model"), HF_ROUTES)
def test_hf_routes_answer_a_2d_list_for_a_list(harness: Harness, fake_hf, path: str, model: str) -> None:
    answer = post(harness, path, {"inputs": TEXTS})
    assert (answer.status, answer.body) == (200, [expected_vector(t) for t in TEXTS])
    assert fake_hf.observed.paths == {upstream(model)}
    assert answer.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("path", "model"), HF_ROUTES)
def test_hf_routes_answer_1d_for_a_bare_string(harness: Harness, fake_hf, path: str, model: str) -> None:
    answer = post(harness, path, {"inputs": "hello"})
    assert (answer.status, answer.body) == (200, expected_vector("hello"))


def test_tei_embed_is_always_2d_and_normalises_by_default(harness: Harness, fake_hf) -> None:
    answer = post(harness, "/embed", {"inputs": "hello"})
    assert (answer.status, answer.body) == (200, [expected_vector("hello")])
    assert fake_hf.observed.paths == {upstream(DEFAULT_MODEL)}
    assert fake_hf.observed.bodies[-1]["normalize"] is True
    assert post(harness, "/embed", {"inputs": TEXTS, "normalize": False}).body == [expected_vector(t) for t in TEXTS]
    assert fake_hf.observed.bodies[-1]["normalize"] is False


def test_the_default_model_is_the_configured_one(harness: Harness, fake_hf, monkeypatch) -> None:
    harness.reconfigure(monkeypatch, DEFAULT_MODEL="org/other-model")
    assert post(harness, "/", {"inputs": ["x"]}).status == 200
    assert post(harness, "/embed", {"inputs": ["x"]}).status == 200
    assert post(harness, "/v1/embeddings", {"input": ["x"]}).body["model"] == "org/other-model"
    assert fake_hf.observed.paths == {upstream("org/other-model")}


def test_options_and_headers_reach_hf(harness: Harness, fake_hf) -> None:
    body = {"inputs": ["x"], "options": {"wait_for_model": True, "use_cache": True, "use_gpu": True}}
    assert post(harness, f"/models/{MODEL}", body, **{"x-use-cache": "0"}).status == 200
    assert fake_hf.observed.bodies[-1] == {
        "inputs": ["x"], "options": {"wait_for_model": True, "use_gpu": True, "use_cache": False}}
    assert post(harness, f"/models/{MODEL}", {"inputs": ["y"]}, **{"X-Wait-For-Model": "true"}).status == 200
    assert fake_hf.observed.bodies[-1]["options"] == {"wait_for_model": True, "use_gpu": False, "use_cache": True}


def test_parameters_reach_hf_at_the_root_and_unknown_keys_are_ignored(harness: Harness, fake_hf) -> None:
    body = {"inputs": ["x"], "truncate": True, "whatever": [1, 2],
            "parameters": {"normalize": True, "prompt_name": "query", "truncation_direction": "left"}}
    answer = post(harness, f"/pipeline/feature-extraction/{MODEL}", body)
    assert (answer.status, answer.body) == (200, [expected_vector("x")])
    assert fake_hf.observed.bodies[-1] == {
        "inputs": ["x"], "options": {"wait_for_model": False, "use_gpu": False, "use_cache": True},
        "normalize": True, "truncate": True, "truncation_direction": "Left", "prompt_name": "query",
    }


def test_dimensions_shorten_and_renormalise(harness: Harness) -> None:
    answer = post(harness, f"/models/{MODEL}", {"inputs": "hello", "parameters": {"dimensions": 3}})
    prefix = expected_vector("hello")[:3]
    norm = math.sqrt(sum(x * x for x in prefix))
    assert answer.status == 200
    assert answer.body == [x / norm for x in prefix]


@pytest.mark.parametrize(("path", "body"), [
    (f"/models/{MODEL}", {"inputs": "hello", "dimensions": DIMENSIONS + 1}),
    ("/v1/embeddings", {"input": "hello", "model": MODEL, "dimensions": DIMENSIONS + 1}),
])
def test_more_dimensions_than_the_model_has_is_400(harness: Harness, path: str, body: dict) -> None:
    answer = post(harness, path, body)
    assert answer.status == 400
    assert f"more than the model's {DIMENSIONS}" in json.dumps(answer.body)


# ------------------------------------------------------------------------------------ tokens


@pytest.mark.parametrize("path", [f"/models/{MODEL}", "/embed", "/"])
def test_a_bearer_token_reaches_hf(harness: Harness, fake_hf, path: str) -> None:
    assert post(harness, path, {"inputs": "x"}, **BEARER).status == 200
    assert fake_hf.observed.authorizations == {f"Bearer {CALLER_TOKEN}"}


def test_the_api_key_header_reaches_hf(harness: Harness, fake_hf) -> None:
    assert post(harness, f"/models/{MODEL}", {"inputs": "x"}, **{"X-Huggingface-Api-Key": CALLER_TOKEN}).status == 200
    assert fake_hf.observed.authorizations == {f"Bearer {CALLER_TOKEN}"}


def test_without_a_token_the_default_is_used(harness: Harness, fake_hf) -> None:
    assert post(harness, f"/models/{MODEL}", {"inputs": "x"}).status == 200
    assert post(harness, "/v1/embeddings", {"input": "x", "model": MODEL}).status == 200
    assert fake_hf.observed.authorizations == {f"Bearer {DEFAULT_TOKEN}"}


def test_no_token_anywhere_is_401_in_each_shape(harness: Harness, monkeypatch, fake_hf) -> None:
    harness.reconfigure(monkeypatch, HUGGINGFACE_APIKEY="")
    hf_answer = post(harness, f"/models/{MODEL}", {"inputs": "x"})
    assert hf_answer.status == 401 and "Authorization: Bearer" in hf_answer.body["error"]
    tei_answer = post(harness, "/embed", {"inputs": "x"})
    assert (tei_answer.status, tei_answer.body["error_type"]) == (401, "Validation")
    openai_answer = post(harness, "/v1/embeddings", {"input": "x", "model": MODEL})
    assert (openai_answer.status, openai_answer.body["error"]["code"]) == (401, "invalid_api_key")
    assert fake_hf.observed.requests == 0


# ---------------------------------------------------------------------------------- OpenAI


def test_openai_float_answer(harness: Harness, fake_hf) -> None:
    answer = post(harness, "/v1/embeddings", {"input": TEXTS, "model": MODEL, "encoding_format": "float"}, **BEARER)
    assert answer.status == 200
    assert answer.body["object"] == "list" and answer.body["model"] == MODEL
    assert answer.body["data"] == [
        {"object": "embedding", "embedding": expected_vector(t), "index": i} for i, t in enumerate(TEXTS)]
    assert answer.body["usage"] == {"prompt_tokens": 17, "total_tokens": 17}
    assert fake_hf.observed.paths == {upstream(MODEL)}
    assert fake_hf.observed.authorizations == {f"Bearer {CALLER_TOKEN}"}


def test_openai_base64_is_exact_float32(harness: Harness) -> None:
    answer = post(harness, "/v1/embeddings", {"input": TEXTS, "model": MODEL, "encoding_format": "base64"})
    assert answer.status == 200
    assert [floats32(item["embedding"]) for item in answer.body["data"]] == [expected_vector(t) for t in TEXTS]


def test_openai_single_string_and_dimensions(harness: Harness) -> None:
    answer = post(harness, "/v1/embeddings", {"input": "hello", "model": MODEL, "dimensions": 2})
    prefix = expected_vector("hello")[:2]
    norm = math.sqrt(sum(x * x for x in prefix))
    assert [item["embedding"] for item in answer.body["data"]] == [[x / norm for x in prefix]]


# ---------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("path", "body", "raw", "status", "expected"),
    [
        (f"/models/{MODEL}", None, b'{"inputs": [', 400, {"error": "the request body is not valid JSON"}),
        (f"/models/{MODEL}", {"texts": ["a"]}, None, 400, {"error": "inputs: Field required"}),
        (f"/models/{MODEL}", {"inputs": [1, 2]}, None, 400, None),
        (f"/models/{MODEL}", {"inputs": []}, None, 400, {"error": "'inputs' cannot be empty"}),
        ("/embed", None, b"not json", 422, {"error": "the request body is not valid JSON", "error_type": "Validation"}),
        ("/embed", {"inputs": []}, None, 400, {"error": "'inputs' cannot be empty", "error_type": "Empty"}),
        ("/models/a/b%2Fc", {"inputs": "x"}, None, 400, None),
    ],
)
def test_hf_and_tei_refusals_are_in_their_shape(harness, fake_hf, path, body, raw, status, expected) -> None:
    answer = post(harness, path, body, raw=raw)
    assert answer.status == status
    assert set(answer.body) == ({"error", "error_type"} if path == "/embed" else {"error"})
    if expected is not None:
        assert answer.body == expected
    assert fake_hf.observed.requests == 0


@pytest.mark.parametrize(
    ("body", "raw", "param"),
    [
        (None, b'{"input": ', None),
        ({"input": [[101, 2023, 102]], "model": MODEL}, None, "input"),
        ({"input": "", "model": MODEL}, None, "input"),
        ({"input": "a", "model": MODEL, "encoding_format": "int8"}, None, "encoding_format"),
        ({"input": "a", "model": "not/a/model"}, None, "model"),
    ],
)
def test_openai_refusals_are_in_openais_shape(harness, fake_hf, body, raw, param) -> None:
    answer = post(harness, "/v1/embeddings", body, raw=raw)
    assert answer.status == 400
    assert set(answer.body) == {"error"}
    assert set(answer.body["error"]) == {"message", "type", "param", "code"}
    assert (answer.body["error"]["type"], answer.body["error"]["param"]) == ("invalid_request_error", param)
    assert fake_hf.observed.requests == 0


def test_limits_apply_in_each_shape(harness: Harness, monkeypatch, fake_hf) -> None:
    harness.reconfigure(monkeypatch, MAX_TEXTS="2", MAX_TEXT_CHARS="5")
    hf_answer = post(harness, f"/models/{MODEL}", {"inputs": ["a", "b", "c"]})
    assert (hf_answer.status, hf_answer.body) == (413, {"error": "3 texts in one request; the limit is 2"})
    tei_answer = post(harness, "/embed", {"inputs": ["a", "toolong"]})
    assert (tei_answer.status, tei_answer.body["error_type"]) == (413, "Validation")
    assert "text 1 has 7 characters; the limit is 5" in tei_answer.body["error"]
    openai_answer = post(harness, "/v1/embeddings", {"input": ["a", "b", "c"], "model": MODEL})
    assert (openai_answer.status, openai_answer.body["error"]["param"]) == (413, "input")
    assert fake_hf.observed.requests == 0


@pytest.mark.parametrize("faults", [Faults(refuse_texts=frozenset({"bad text"}))])
def test_one_refused_input_fails_the_whole_request(harness: Harness, fake_hf) -> None:
    answer = post(harness, f"/models/{MODEL}", {"inputs": ["good one", "bad text", "good two"]})
    assert answer.status == 400
    assert answer.body["error"].startswith("input 1: Hugging Face refused the input")
    openai_answer = post(harness, "/v1/embeddings", {"input": ["good one", "bad text"], "model": MODEL})
    assert (openai_answer.status, openai_answer.body["error"]["param"]) == (400, "input")
    assert "data" not in openai_answer.body


# ---------------------------------------------------------------------- loading, rate limits


@pytest.mark.parametrize("faults", [Faults(loading_rate=1.0, estimated_time=2.5)])
def test_loading_is_503_with_estimated_time_and_retry_after(harness: Harness, monkeypatch) -> None:
    harness.reconfigure(monkeypatch, HF_MAX_ATTEMPTS="2")
    answer = post(harness, f"/models/{MODEL}", {"inputs": "x"}, **BEARER)
    assert answer.status == 503
    assert answer.body["estimated_time"] == 2.5
    assert "Model fake/model is currently loading" in answer.body["error"]
    assert answer.headers["Retry-After"] == "3"
    tei = post(harness, "/embed", {"inputs": "x"})
    assert (tei.status, tei.body["error_type"], tei.headers["Retry-After"]) == (503, "Unhealthy", "3")
    openai_answer = post(harness, "/v1/embeddings", {"input": "x", "model": MODEL})
    assert (openai_answer.status, openai_answer.body["error"]["code"]) == (503, "model_loading")
    assert openai_answer.headers["Retry-After"] == "3"


@pytest.mark.parametrize("faults", [Faults(rate_limit_rate=1.0, retry_after="4")])
def test_rate_limited_is_429_with_retry_after(harness: Harness, monkeypatch) -> None:
    harness.reconfigure(monkeypatch, HF_MAX_ATTEMPTS="2")
    answer = post(harness, f"/models/{MODEL}", {"inputs": "x"})
    assert (answer.status, answer.headers["Retry-After"]) == (429, "4")
    assert answer.body == {"error": "Hugging Face rate limit reached: Rate limit reached"}
    openai_answer = post(harness, "/v1/embeddings", {"input": "x", "model": MODEL})
    assert (openai_answer.status, openai_answer.body["error"]["type"]) == (429, "requests")
    assert openai_answer.headers["Retry-After"] == "4"


@pytest.mark.parametrize("faults", [Faults(server_error_rate=1.0)])
def test_hf_failures_are_never_503(harness: Harness, monkeypatch) -> None:
    harness.reconfigure(monkeypatch, HF_MAX_ATTEMPTS="2")
    answer = post(harness, f"/models/{MODEL}", {"inputs": "x"})
    assert answer.status == 502 and "Retry-After" not in answer.headers
    tei = post(harness, "/embed", {"inputs": "x"})
    assert (tei.status, tei.body["error_type"]) == (502, "Backend")


# ------------------------------------------------------------------------------ big requests


@pytest.mark.parametrize("faults", [Faults(delay_seconds=0.05)])
@pytest.mark.parametrize("path", [f"/models/{MODEL}", "/v1/embeddings"])
def test_300_inputs_are_split_into_concurrent_batches_in_order(harness, fake_hf, monkeypatch, path) -> None:
    harness.reconfigure(monkeypatch, HF_BATCH_SIZE="32", HF_CONCURRENCY="8")
    texts = [f"text number {i}" for i in range(300)]
    body = {"inputs": texts} if path != "/v1/embeddings" else {"input": texts, "model": MODEL}
    answer = post(harness, path, body)
    assert answer.status == 200
    vectors = answer.body if path != "/v1/embeddings" else [item["embedding"] for item in answer.body["data"]]
    assert vectors == [expected_vector(t) for t in texts]
    assert fake_hf.observed.requests == 10  # ceil(300 / 32)
    assert sorted(len(b["inputs"]) for b in fake_hf.observed.bodies) == [12] + [32] * 9
    assert fake_hf.observed.max_in_flight > 1


# ------------------------------------------------------------------------------------ secrets


def echo_the_token(fake_hf, monkeypatch) -> None:
    """Make the fake HF refuse every call with the bearer token in its message, as a careless
    upstream might, so that the test sees whether anything passes the token on."""

    def answer(path: str, headers: dict[str, str], body: bytes):
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        return 401, {"error": f"Invalid credentials in Authorization header: {auth}"}, {}

    monkeypatch.setattr(fake_hf, "answer", answer)


def test_the_token_is_never_in_an_answer_or_the_logs(harness: Harness, fake_hf, monkeypatch, capfd) -> None:
    echo_the_token(fake_hf, monkeypatch)
    answers = [
        post(harness, f"/models/{MODEL}", {"inputs": "x"}, **BEARER),
        post(harness, "/embed", {"inputs": "x"}, **{"X-Huggingface-Api-Key": CALLER_TOKEN}),
        post(harness, "/v1/embeddings", {"input": "x", "model": MODEL}, **BEARER),
        post(harness, f"/models/{MODEL}", {"inputs": "x"}),  # the default token
        post(harness, "/v1/embeddings", {"input": [[1, 2]], "model": MODEL}, **BEARER),
        post(harness, "/models/a/b%2Fc", {"inputs": "x"}, **BEARER),
    ]
    assert [answer.status for answer in answers] == [401, 401, 401, 401, 400, 400]
    assert "Invalid credentials in Authorization header: Bearer ***" in answers[0].body["error"]
    for answer in answers:
        text = json.dumps(answer.body) + json.dumps(answer.headers)
        assert CALLER_TOKEN not in text and DEFAULT_TOKEN not in text
    out, err = capfd.readouterr()
    assert CALLER_TOKEN not in out + err and DEFAULT_TOKEN not in out + err


# ------------------------------------------------------------------------------ sample events


@pytest.mark.parametrize("name", ["api-hf-feature-extraction.json", "api-openai-embeddings.json"])
def test_the_sample_events_answer_as_documented(harness: Harness, fake_hf, name: str) -> None:
    event = json.loads((ROOT / "events" / name).read_text())
    status, _, payload = http_answer(harness.api_module.lambda_handler(event, LocalContext("ApiFunction", 29)))
    body = json.loads(payload)
    texts = json.loads(event["body"]).get("inputs") or json.loads(event["body"])["input"]
    vectors = body if name.startswith("api-hf") else [item["embedding"] for item in body["data"]]
    assert (status, vectors) == (200, [expected_vector(t) for t in texts])
    assert fake_hf.observed.paths == {upstream(MODEL)}
    assert fake_hf.observed.authorizations == {"Bearer hf_samLocalExampleToken000000000000"}


def test_a_drop_in_route_reports_what_it_asked_of_hf(harness: Harness, fake_hf, capsys) -> None:
    capsys.readouterr()
    texts = ["same", "same", "other"]
    answer = post(harness, "/v1/embeddings", {"input": texts, "model": MODEL})

    assert answer.status == 200
    assert [item["embedding"] for item in answer.body["data"]] == [expected_vector(t) for t in texts]
    usage = [(blob["CacheHits"], blob["HfRequests"], blob["HfRequestsSaved"])
             for blob in emf_lines(capsys.readouterr().out) if "HfRequests" in blob]
    assert usage == [([0.0], [1.0], [0.0])]
