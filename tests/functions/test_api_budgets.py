"""Every route has a budget before it calls Hugging Face: a text count and the answer's size.

The answer is planned at 24 bytes per number (the most a float32 value takes in JSON, with its
comma), so with 4096 dimensions and the default 5,500,000-byte budget:
- an HF/TEI answer fits 55 inputs: 4,096 + 55 x (4,096 x 24 + 3 + 64) = 5,414,501 bytes, and
  56 take 5,512,872;
- an inline /vectorize answer fits 55 texts: 4,096 + 2 x 5 x 55 + 55 x (4,096 x 24 + 3) =
  5,411,531 bytes, and 56 take 5,509,848.
"""

from __future__ import annotations

import base64
import struct

import pytest

from tests.fakes.fake_hf_server import Faults, expected_vector
from tests.function_harness import Harness

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WIDE = 4096


def texts(count: int) -> list[str]:
    return [f"text number {n}" for n in range(count)]


def learn_dimensions(harness: Harness, path: str = "/embed", body: dict | None = None) -> None:
    """One small request, so this container knows the model's dimensions."""
    answer = harness.api("POST", path, body or {"inputs": ["warm up"]})
    assert answer.status in (200, 202), answer.body


# ---------------------------------------------------------------------- the compatible routes


def test_embed_past_the_input_limit_is_413_before_any_hf_call_even_without_a_token(
    harness: Harness, fake_hf, monkeypatch
) -> None:
    harness.reconfigure(monkeypatch, HUGGINGFACE_APIKEY="")
    answer = harness.api("POST", "/embed", {"inputs": texts(2049)})
    assert answer.status == 413
    assert answer.body == {
        "error": "2049 inputs in one request; the limit is 2048 (send them in smaller requests, or use "
        "POST /vectorize, which answers large requests as jobs)",
        "error_type": "Validation",
    }
    assert fake_hf.observed.requests == 0


def test_the_input_limit_is_a_setting(harness: Harness, fake_hf, monkeypatch) -> None:
    harness.reconfigure(monkeypatch, COMPAT_MAX_TEXTS="3")
    assert harness.api("POST", "/embed", {"inputs": texts(3)}).status == 200
    answer = harness.api("POST", "/v1/embeddings", {"input": texts(4), "model": MODEL})
    assert answer.status == 413
    assert answer.body["error"]["message"].startswith("4 inputs in one request; the limit is 3")
    assert fake_hf.observed.requests == 1


@pytest.mark.parametrize("faults", [Faults(dimensions=WIDE)])
@pytest.mark.parametrize("path", ["/embed", "/", f"/models/{MODEL}", f"/models/{MODEL}/pipeline/feature-extraction",
                                  f"/pipeline/feature-extraction/{MODEL}"])
def test_hf_routes_answer_up_to_the_budget_and_refuse_one_more_input_before_calling_hf(
    harness: Harness, fake_hf, path: str
) -> None:
    learn_dimensions(harness, path)
    fitting = harness.api("POST", path, {"inputs": texts(55)})
    assert fitting.status == 200
    assert fitting.body == [expected_vector(t, WIDE) for t in texts(55)]
    seen = fake_hf.observed.requests
    over = harness.api("POST", path, {"inputs": texts(56)})
    assert over.status == 413
    assert over.body["error"].startswith(
        "the answer for 56 inputs could take 5,512,872 bytes, over the answer budget of 5,500,000"
    )
    assert fake_hf.observed.requests == seen  # nothing called for the refused request


@pytest.mark.parametrize("faults", [Faults(dimensions=WIDE)])
def test_openai_route_plans_float_answers_at_their_size_before_calling_hf(harness: Harness, fake_hf) -> None:
    learn_dimensions(harness, "/v1/embeddings", {"input": ["warm up"], "model": MODEL})
    fitting = harness.api("POST", "/v1/embeddings", {"input": texts(55), "model": MODEL, "encoding_format": "float"})
    assert fitting.status == 200
    assert fitting.body["data"][54]["embedding"] == expected_vector("text number 54", WIDE)
    seen = fake_hf.observed.requests
    answer = harness.api("POST", "/v1/embeddings", {"input": texts(56), "model": MODEL, "encoding_format": "float"})
    assert answer.status == 413
    assert answer.body["error"]["code"] == "answer_too_large"
    assert answer.body["error"]["param"] == "input"
    assert fake_hf.observed.requests == seen


@pytest.mark.parametrize("faults", [Faults(dimensions=WIDE)])
def test_openai_base64_answers_are_planned_at_a_quarter_of_the_size(harness: Harness, fake_hf) -> None:
    learn_dimensions(harness, "/v1/embeddings", {"input": ["warm up"], "model": MODEL})
    answer = harness.api("POST", "/v1/embeddings", {"input": texts(200), "model": MODEL, "encoding_format": "base64"})
    assert answer.status == 200
    first = base64.b64decode(answer.body["data"][0]["embedding"])
    assert list(struct.unpack(f"<{WIDE}f", first)) == expected_vector("text number 0", WIDE)
    assert len(answer.body["data"]) == 200


@pytest.mark.parametrize("faults", [Faults(dimensions=WIDE)])
def test_a_cold_container_learns_the_dimensions_from_one_input_then_refuses(harness: Harness, fake_hf) -> None:
    answer = harness.api("POST", "/embed", {"inputs": texts(56)})
    assert answer.status == 413
    assert answer.body["error"].startswith("the answer for 56 inputs could take 5,512,872 bytes")
    # One request of the first HF batch (HF_BATCH_SIZE, 32) taught it the dimensions; the rest
    # were never sent.
    assert fake_hf.observed.requests == 1
    assert fake_hf.observed.bodies[0]["inputs"] == texts(32)
    again = harness.api("POST", "/embed", {"inputs": texts(56)})
    assert again.status == 413
    assert fake_hf.observed.requests == 1


@pytest.mark.parametrize("path", ["/embed", "/vectorize"])
def test_a_cold_container_answers_a_request_that_fits_at_the_real_dimensions_sending_each_text_once(
    harness: Harness, fake_hf, path: str
) -> None:
    # 100 texts would be 9.8 MB at the guessed 4,096 dimensions, but the model has 8.
    body = {"inputs": texts(100)} if path == "/embed" else {"texts": texts(100), "mode": "sync"}
    answer = harness.api("POST", path, body)
    assert answer.status == 200
    vectors = answer.body if path == "/embed" else answer.body["vectors"]
    assert vectors == [expected_vector(t) for t in texts(100)]
    # The first batch of 32 went alone, then the other 68 in three: every text once.
    assert (fake_hf.observed.requests, fake_hf.observed.texts) == (4, 100)
    assert fake_hf.observed.bodies[0]["inputs"] == texts(32)


def test_dimensions_asked_for_are_what_the_answer_is_planned_with(harness: Harness, fake_hf) -> None:
    # 500 inputs at 4,096 guessed dimensions: 49 MB; shortened to 2 dimensions: 0.07 MB, no probe.
    answer = harness.api("POST", "/embed", {"inputs": texts(500), "dimensions": 2})
    assert answer.status == 200
    assert len(answer.body) == 500 and len(answer.body[0]) == 2
    assert fake_hf.observed.texts == 500


# -------------------------------------------------------------------------------- /vectorize


@pytest.mark.parametrize("faults", [Faults(dimensions=WIDE)])
def test_sync_vectorize_answers_up_to_the_budget_and_refuses_one_more_text_before_calling_hf(
    harness: Harness, fake_hf
) -> None:
    learn_dimensions(harness, "/vectorize", {"config": {"model": MODEL}, "texts": ["warm up"]})
    fitting = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": texts(55), "mode": "sync"})
    assert fitting.status == 200
    assert fitting.body["dimensions"] == WIDE
    assert fitting.body["vectors"][54] == expected_vector("text number 54", WIDE)
    seen = fake_hf.observed.requests
    over = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": texts(56), "mode": "sync"})
    assert over.status == 413
    assert over.body == {
        "error": "the answer for 56 texts could take 5,509,848 bytes, over the answer budget of 5,500,000 "
        "(Lambda returns at most 6 MB): send fewer texts, or use mode 'auto' or 'async' for a job",
        "code": "answer_too_large",
    }
    assert fake_hf.observed.requests == seen


@pytest.mark.parametrize("faults", [Faults(dimensions=WIDE)])
def test_auto_vectorize_past_the_answer_budget_becomes_a_job_without_calling_hf(harness: Harness, fake_hf) -> None:
    learn_dimensions(harness, "/vectorize", {"config": {"model": MODEL}, "texts": ["warm up"]})
    seen = fake_hf.observed.requests
    answer = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": texts(56)})
    assert answer.status == 202
    assert (answer.body["status"], answer.body["total"]) == ("queued", 56)
    assert fake_hf.observed.requests == seen
    harness.run_worker_until_idle()
    job = harness.api("GET", f"/jobs/{answer.body['jobId']}")
    assert (job.body["status"], job.body["succeeded"], job.body["dimensions"]) == ("succeeded", 56, WIDE)


def test_the_answer_budget_is_a_setting(harness: Harness, fake_hf, monkeypatch) -> None:
    # 8 dimensions: 4,096 + 2 x 5 x n + n x 12,064 (an error entry outweighs 8 numbers).
    harness.reconfigure(monkeypatch, ANSWER_BUDGET_BYTES="100000")
    learn_dimensions(harness, "/vectorize", {"config": {"model": MODEL}, "texts": ["warm up"]})
    fitting = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": texts(7), "mode": "sync"})
    assert fitting.status == 200
    over = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": texts(8), "mode": "sync"})
    assert (over.status, over.body["code"]) == (413, "answer_too_large")
    assert "could take 100,688 bytes, over the answer budget of 100,000" in over.body["error"]
