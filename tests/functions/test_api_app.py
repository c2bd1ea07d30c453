"""The API function through API Gateway-shaped events, on the template's resources in moto."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.fakes.fake_hf_server import Faults, expected_vector
from tests.function_harness import Harness, emf_lines

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = ["The cat sat on the mat.", "A kitten plays with yarn.", "Cars need fuel."]


def vectorize(harness: Harness, body: dict, **headers: str):
    return harness.api("POST", "/vectorize", body, headers=headers)


def test_health(harness: Harness) -> None:
    answer = harness.api("GET", "/health")
    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_sync_request_answers_exact_vectors_in_order(harness: Harness, fake_hf) -> None:
    answer = vectorize(harness, {"config": {"model": MODEL}, "texts": TEXTS, "ids": ["a", "b", "c"]})
    assert answer.status == 200
    assert answer.body == {
        "model": MODEL, "dimensions": 8, "vectors": [expected_vector(t) for t in TEXTS],
        "ids": ["a", "b", "c"], "errors": [],
    }
    assert fake_hf.observed.paths == {f"/models/{MODEL}/pipeline/feature-extraction"}
    assert fake_hf.observed.authorizations == {f"Bearer {DEFAULT_TOKEN}"}


def test_callers_token_header_is_sent_to_hf(harness: Harness, fake_hf) -> None:
    answer = vectorize(harness, {"texts": ["hello"]}, **{"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert answer.status == 200
    assert fake_hf.observed.authorizations == {f"Bearer {CALLER_TOKEN}"}


def test_options_reach_hf_as_body_and_headers(harness: Harness, fake_hf) -> None:
    body = {"config": {"model": MODEL, "options": {"waitForModel": True, "useGPU": True, "useCache": False}},
            "texts": ["x"]}
    assert vectorize(harness, body).status == 200
    assert fake_hf.observed.bodies[-1] == {
        "inputs": ["x"], "options": {"wait_for_model": True, "use_gpu": True, "use_cache": False}
    }


def test_query_purpose_uses_the_query_model(harness: Harness, fake_hf) -> None:
    config = {"passageModel": "org/passage-enc", "queryModel": "org/query-enc"}
    answer = vectorize(harness, {"config": config, "texts": ["what is a cat?"], "purpose": "query"})
    assert (answer.status, answer.body["model"]) == (200, "org/query-enc")
    assert fake_hf.observed.paths == {"/models/org/query-enc/pipeline/feature-extraction"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model": MODEL, "passageModel": "a/b", "queryModel": "c/d"},
         "only one setting must be set either 'model' or 'passageModel' with 'queryModel'"),
        ({"passageModel": "a/b"}, "'passageModel' is set, but 'queryModel' is empty"),
        ({"queryModel": "c/d"}, "'queryModel' is set, but 'passageModel' is empty"),
    ],
)
def test_config_rules_are_400_with_weaviates_words(harness: Harness, fake_hf, config, message) -> None:
    answer = vectorize(harness, {"config": config, "texts": ["x"]})
    assert answer.status == 400
    assert answer.body["code"] == "invalid_config"
    assert message in answer.body["error"]
    assert fake_hf.observed.requests == 0


def test_unknown_config_key_is_named(harness: Harness) -> None:
    answer = vectorize(harness, {"config": {"modell": MODEL}, "texts": ["x"]})
    assert answer.status == 400
    assert "'modell'" in answer.body["error"] and "passageModel" in answer.body["error"]


def test_bad_json_is_400(harness: Harness) -> None:
    answer = harness.api("POST", "/vectorize", raw_body=b'{"texts": [')
    assert answer.status == 400
    assert answer.body == {"error": "the request body is not valid JSON", "code": "bad_json"}


@pytest.mark.parametrize(
    "body",
    [{}, {"texts": []}, {"texts": "not a list"}, {"texts": ["a"], "ids": ["1", "2"]},
     {"texts": ["a"], "mode": "later"}, {"texts": ["a"], "extra": 1}],
)
def test_schema_failures_are_422(harness: Harness, body) -> None:
    answer = vectorize(harness, body)
    assert answer.status == 422
    assert answer.body["code"] == "validation_error"


def test_endpoint_outside_the_allow_list_is_403_and_never_called(harness: Harness, fake_hf) -> None:
    answer = vectorize(harness, {"config": {"endpointURL": "https://evil.example.com/embed"}, "texts": ["x"]})
    assert answer.status == 403
    assert answer.body["code"] == "endpoint_not_allowed"
    assert fake_hf.observed.requests == 0


def test_endpoint_url_is_called_verbatim_and_wins(harness: Harness, fake_hf) -> None:
    url = f"{fake_hf.base_url}/my/endpoint"
    answer = vectorize(harness, {"config": {"endpointURL": url, "model": "ignored/model"}, "texts": ["x"]})
    assert answer.status == 200
    assert answer.body["model"] == url
    assert fake_hf.observed.paths == {"/my/endpoint"}


def test_no_token_anywhere_is_401(harness: Harness, monkeypatch, fake_hf) -> None:
    harness.reconfigure(monkeypatch, HUGGINGFACE_APIKEY="")
    answer = vectorize(harness, {"texts": ["x"]})
    assert answer.status == 401
    assert answer.body["code"] == "missing_token"
    assert fake_hf.observed.requests == 0


def test_limits_are_413_with_the_limit(harness: Harness, monkeypatch) -> None:
    harness.reconfigure(monkeypatch, MAX_TEXTS="5", MAX_TEXT_CHARS="20", SYNC_MAX_TEXTS="2")
    too_many = vectorize(harness, {"texts": ["a"] * 6})
    assert (too_many.status, too_many.body["code"]) == (413, "payload_too_large")
    assert "limit is 5" in too_many.body["error"]
    too_long = vectorize(harness, {"texts": ["a", "b" * 21]})
    assert too_long.status == 413 and "text 1 has 21 characters; the limit is 20" in too_long.body["error"]
    sync_over = vectorize(harness, {"texts": ["a", "b", "c"], "mode": "sync"})
    assert sync_over.status == 413 and "sync limit is 2" in sync_over.body["error"]


@pytest.mark.parametrize("faults", [Faults(refuse_texts=frozenset({"bad text"}))])
def test_one_refused_text_does_not_sink_the_others(harness: Harness, fake_hf) -> None:
    texts = ["good one", "bad text", "good two"]
    answer = vectorize(harness, {"texts": texts, "ids": ["g1", "b", "g2"]})
    assert answer.status == 200
    assert answer.body["vectors"] == [expected_vector("good one"), None, expected_vector("good two")]
    assert [(e["index"], e["id"]) for e in answer.body["errors"]] == [(1, "b")]
    assert "Hugging Face refused the input: Input validation error" in answer.body["errors"][0]["error"]


@pytest.mark.parametrize("faults", [Faults(refuse_texts=frozenset({"bad"}))])
def test_every_text_refused_is_400(harness: Harness) -> None:
    answer = vectorize(harness, {"texts": ["bad"]})
    assert (answer.status, answer.body["code"]) == (400, "hf_input_rejected")


@pytest.mark.parametrize("faults", [Faults(loading_rate=1.0, estimated_time=0.01)])
def test_model_still_loading_is_503_with_hfs_words(harness: Harness, monkeypatch) -> None:
    harness.reconfigure(monkeypatch, HF_MAX_ATTEMPTS="2")
    answer = vectorize(harness, {"texts": ["x"]}, **{"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert answer.status == 503
    assert answer.body["code"] == "hf_model_loading"
    assert "Model fake/model is currently loading" in answer.body["error"]
    assert CALLER_TOKEN not in json.dumps(answer.body)


@pytest.mark.parametrize("faults", [Faults(rate_limit_rate=1.0)])
def test_rate_limited_is_429(harness: Harness, monkeypatch) -> None:
    harness.reconfigure(monkeypatch, HF_MAX_ATTEMPTS="2")
    answer = vectorize(harness, {"texts": ["x"]})
    assert (answer.status, answer.body["code"]) == (429, "hf_rate_limited")


def test_unknown_job_is_404(harness: Harness) -> None:
    answer = harness.api("GET", "/jobs/no-such-job")
    assert (answer.status, answer.body["code"]) == (404, "job_not_found")
    vectors = harness.api("GET", "/jobs/no-such-job/vectors")
    assert vectors.status == 404


def log_lines(harness: Harness, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every record the API function logged, as the JSON line its own formatter writes to stdout.

    Read through caplog: the function's log handler holds the stdout of the moment it was
    loaded, which capfd never sees, so capfd alone would only ever check silence.
    """
    formatter = harness.api_module.logger.registered_formatter
    return [formatter.format(record) for record in caplog.records]


def echo_the_token(status: int, message: str, seen: list[str]):
    """A fake HF answer that writes the request's Authorization header into its error message.

    Takes the status to answer, the message's start and a list that collects each header seen.
    """
    def answer(path: str, headers: dict[str, str], body: bytes) -> tuple[int, object, dict[str, str]]:
        authorization = next(value for name, value in headers.items() if name.lower() == "authorization")
        seen.append(authorization)
        return status, {"error": f"{message} {authorization}"}, {}
    return answer


def test_tokens_never_reach_the_logs(harness: Harness, fake_hf, monkeypatch, caplog, capfd) -> None:
    # The positive control: failures that carry the token (HF echoes it back) must be logged, so
    # that "no token in the logs" is checked against log lines that exist, not against silence.
    harness.reconfigure(monkeypatch, HF_MAX_ATTEMPTS="2")
    seen: list[str] = []
    monkeypatch.setattr(fake_hf, "answer", echo_the_token(500, "upstream broke for", seen))
    failed = vectorize(harness, {"texts": ["x"]}, **{"X-Huggingface-Api-Key": CALLER_TOKEN})
    failed_default = vectorize(harness, {"texts": ["x"]})
    monkeypatch.setattr(fake_hf, "answer", echo_the_token(401, "Invalid credentials in header", seen))
    rejected = vectorize(harness, {"texts": ["x"]}, **{"X-Huggingface-Api-Key": CALLER_TOKEN})
    lines = log_lines(harness, caplog)
    out, err = capfd.readouterr()

    # HF did see each token, and echoed it: the failures below really involved them.
    caller, default = f"Bearer {CALLER_TOKEN}", f"Bearer {DEFAULT_TOKEN}"
    assert seen == [caller, caller, default, default, caller]  # two attempts per 5xx, one per 401
    assert [(a.status, a.body["code"]) for a in (failed, failed_default, rejected)] == [
        (502, "hf_upstream_error"), (502, "hf_upstream_error"), (401, "hf_token_rejected"),
    ]
    assert failed.body["error"].startswith("Hugging Face failed with status 500: upstream broke for ")
    refusals = [
        (record["level"], record["status"], record["code"])
        for record in map(json.loads, lines) if record["message"] == "request refused"
    ]
    assert refusals == [
        ("ERROR", 502, "hf_upstream_error"), ("ERROR", 502, "hf_upstream_error"), ("INFO", 401, "hf_token_rejected"),
    ]
    everything = "\n".join(lines) + out + err + json.dumps([failed.body, failed_default.body, rejected.body])
    assert CALLER_TOKEN not in everything and DEFAULT_TOKEN not in everything


ARTICLE_CLASS = {
    "class": "NewsArticle",
    "vectorizer": "text2vec-huggingface",
    "moduleConfig": {"text2vec-huggingface": {"model": MODEL, "vectorizeClassName": True}},
    "properties": [
        {"name": "title", "dataType": ["text"]},
        {"name": "body", "dataType": ["text"],
         "moduleConfig": {"text2vec-huggingface": {"vectorizePropertyName": True}}},
        {"name": "internalNote", "dataType": ["text"], "moduleConfig": {"text2vec-huggingface": {"skip": True}}},
        {"name": "wordCount", "dataType": ["int"]},
    ],
}


def test_weaviate_objects_get_the_text_weaviate_would_build(harness: Harness, fake_hf) -> None:
    objects = [
        {"id": "a1", "properties": {"title": "Hello", "body": "World", "internalNote": "draft", "wordCount": 2}},
        {"id": "a2", "properties": {"title": "Only a title"}},
    ]
    answer = vectorize(harness, {"class": ARTICLE_CLASS, "objects": objects})
    assert answer.status == 200, answer.body
    texts = ["News Article body World Hello", "News Article Only a title"]
    assert answer.body["ids"] == ["a1", "a2"]
    assert answer.body["vectors"] == [expected_vector(t) for t in texts]
    assert sorted(fake_hf.observed.bodies[-1]["inputs"]) == sorted(texts)  # one request, shortest first
    assert fake_hf.observed.paths == {f"/models/{MODEL}/pipeline/feature-extraction"}


def test_weaviate_objects_can_go_through_a_job(harness: Harness, fake_hf) -> None:
    objects = [{"id": f"o{i}", "properties": {"title": f"Title {i}"}} for i in range(3)]
    accepted = vectorize(harness, {"class": ARTICLE_CLASS, "objects": objects, "mode": "async"})
    assert accepted.status == 202, accepted.body
    harness.run_worker_until_idle()
    page = harness.api("GET", f"/jobs/{accepted.body['jobId']}/vectors").body
    assert [(item["id"], item["vector"]) for item in page["items"]] == [
        (f"o{i}", expected_vector(f"News Article Title {i}")) for i in range(3)
    ]


def test_class_module_config_errors_are_config_errors(harness: Harness, fake_hf) -> None:
    bad = {**ARTICLE_CLASS, "moduleConfig": {"text2vec-huggingface": {"model": MODEL, "passageModel": "a/b"}}}
    answer = vectorize(harness, {"class": bad, "objects": [{"id": "x", "properties": {"title": "t"}}]})
    assert (answer.status, answer.body["code"]) == (400, "invalid_config")
    assert "only one setting must be set" in answer.body["error"]
    assert fake_hf.observed.requests == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"objects": [{"id": "x", "properties": {"title": "t"}}]}, "need the 'class'"),
        ({"class": ARTICLE_CLASS, "config": {"model": MODEL}, "objects": [{"id": "x"}]}, "not both"),
        ({"class": ARTICLE_CLASS, "texts": ["t"], "objects": [{"id": "x"}]}, "not both"),
        ({"config": {"model": MODEL}}, "give 'texts'"),
    ],
)
def test_texts_and_objects_are_one_or_the_other(harness: Harness, fake_hf, body: dict, fragment: str) -> None:
    answer = vectorize(harness, body)
    assert (answer.status, answer.body["code"]) == (422, "validation_error")
    assert fragment in answer.body["error"]
    assert fake_hf.observed.requests == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"texts": ["fine", "\ud800 lone surrogate"]}, "'texts' entry 1 is not valid Unicode"),
        ({"texts": ["a"], "ids": ["\udfff"]}, "ids.0"),
        ({"texts": ["a"], "ids": ["x" * 513]}, "at most 512 characters"),
    ],
)
def test_input_no_request_could_carry_is_a_422_not_a_500(
    harness: Harness, fake_hf, body: dict, fragment: str, mode: str
) -> None:
    answer = vectorize(harness, {**body, "mode": mode})
    assert (answer.status, answer.body["code"]) == (422, "validation_error")
    assert fragment in answer.body["error"]
    assert fake_hf.observed.requests == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_token_no_header_could_carry_is_refused_without_echoing_it(harness: Harness, fake_hf, mode: str) -> None:
    answer = vectorize(harness, {"texts": ["a"], "mode": mode}, **{"X-Huggingface-Api-Key": "hf_sécret"})
    assert (answer.status, answer.body["code"]) == (401, "invalid_token")
    assert "sécret" not in json.dumps(answer.body)
    assert fake_hf.observed.requests == 0


def test_a_job_id_no_job_could_have_is_simply_not_found(harness: Harness) -> None:
    for path in (f"/jobs/{'x' * 3000}", "/jobs/..%2Fetc", f"/jobs/{'y' * 200}/vectors"):
        answer = harness.api("GET", path)
        assert (answer.status, answer.body["code"]) == (404, "job_not_found"), path


def test_an_inline_answer_reports_what_it_asked_of_hf_and_what_dedupe_saved(
    harness: Harness, fake_hf, monkeypatch, capsys,
) -> None:
    harness.reconfigure(monkeypatch, HF_BATCH_SIZE="1")
    capsys.readouterr()
    texts = ["one", "two", "one", "one"]  # 2 distinct: 2 requests of one text, where 4 would go undeduplicated

    answer = vectorize(harness, {"config": {"model": MODEL}, "texts": texts, "mode": "sync"})

    assert answer.status == 200 and answer.body["vectors"] == [expected_vector(t) for t in texts]
    assert fake_hf.observed.requests == 2
    usage = [(blob["CacheHits"], blob["HfRequests"], blob["HfRequestsSaved"])
             for blob in emf_lines(capsys.readouterr().out) if "HfRequests" in blob]
    assert usage == [([0.0], [2.0], [2.0])]
