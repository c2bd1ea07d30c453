"""The operator's default token goes only where the operator sends it, on every route; and input
that can never be called (a bad endpointURL, a token too long to seal) is a 4xx, never a 500.

`fake_hf` stands for HF_API_BASE_URL; `stranger` is another endpoint on a host the allow-list
admits (as anyone's `*.endpoints.huggingface.cloud` endpoint is) but the operator never listed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.fakes.fake_hf_server import FakeHuggingFace, expected_vector
from tests.function_harness import Harness

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WITHHELD = (
    "no Hugging Face token: send one in the X-Huggingface-Api-Key header (this deployment's default token "
    "is not sent to '127.0.0.1': it goes only to HF_API_BASE_URL and the hosts the operator lists in "
    "DEFAULT_TOKEN_HOSTS)"
)


@pytest.fixture
def stranger() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace() as server:
        yield server


def vectorize(harness: Harness, body: dict, **headers: str):
    return harness.api("POST", "/vectorize", body, headers=headers)


# ------------------------------------------------------------------ /vectorize, inline and as a job


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_default_token_is_not_sent_to_an_endpoint_url_the_operator_did_not_list(
    harness: Harness, fake_hf, stranger, mode: str
) -> None:
    answer = vectorize(harness, {"config": {"endpointURL": f"{stranger.base_url}/collect"}, "texts": ["x"],
                                 "mode": mode})
    assert (answer.status, answer.body) == (401, {"error": WITHHELD, "code": "missing_token"})
    assert stranger.observed.requests == 0
    assert fake_hf.observed.requests == 0


def test_the_callers_own_token_goes_to_their_endpoint_url(harness: Harness, stranger) -> None:
    answer = vectorize(harness, {"config": {"endpointURL": f"{stranger.base_url}/mine"}, "texts": ["x"]},
                       **{"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert (answer.status, answer.body["vectors"]) == (200, [expected_vector("x")])
    assert stranger.observed.authorizations == {f"Bearer {CALLER_TOKEN}"}


def test_default_token_goes_to_an_endpoint_the_operator_lists(harness: Harness, monkeypatch, stranger) -> None:
    harness.reconfigure(monkeypatch, DEFAULT_TOKEN_HOSTS=stranger.base_url)
    answer = vectorize(harness, {"config": {"endpointURL": f"{stranger.base_url}/listed"}, "texts": ["x"]})
    assert (answer.status, answer.body["vectors"]) == (200, [expected_vector("x")])
    assert stranger.observed.authorizations == {f"Bearer {DEFAULT_TOKEN}"}


def test_default_token_still_goes_to_an_endpoint_url_under_the_base_url(harness: Harness, fake_hf) -> None:
    answer = vectorize(harness, {"config": {"endpointURL": f"{fake_hf.base_url}/models/{MODEL}"}, "texts": ["x"]})
    assert answer.status == 200
    assert fake_hf.observed.authorizations == {f"Bearer {DEFAULT_TOKEN}"}


# ------------------------------------------------------------------ the compatible routes


@pytest.mark.parametrize(
    ("path", "body"),
    [(f"/models/{MODEL}", {"inputs": "x"}), ("/embed", {"inputs": "x"}),
     ("/v1/embeddings", {"input": "x", "model": MODEL})],
)
def test_compatible_routes_use_the_default_token_for_the_base_url_only(
    harness: Harness, fake_hf, path: str, body: dict
) -> None:
    # These routes name a model, never an endpoint: their one destination is HF_API_BASE_URL.
    assert harness.api("POST", path, body).status == 200
    assert fake_hf.observed.authorizations == {f"Bearer {DEFAULT_TOKEN}"}


# ------------------------------------------------------------------ never a 500


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":99999/embed", "has a port that is not a number from 0 to 65535"),
        ("/em\tbed", "holds a whitespace or control character at position"),
        ("/embed\n", "holds a whitespace or control character at position"),
    ],
)
def test_an_endpoint_url_that_can_never_be_called_is_400_not_500(
    harness: Harness, fake_hf, suffix: str, message: str
) -> None:
    url = f"https://abc.us-east-1.aws.endpoints.huggingface.cloud{suffix}"
    answer = vectorize(harness, {"config": {"endpointURL": url}, "texts": ["x"]},
                       **{"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert (answer.status, answer.body["code"]) == (400, "invalid_config")
    assert message in answer.body["error"]
    assert fake_hf.observed.requests == 0


def test_a_token_too_long_to_seal_for_a_job_is_401_not_500(harness: Harness, fake_hf) -> None:
    # KMS Encrypt refuses plaintext over 4096 bytes: queuing the job crashed.
    token = "hf_" + "x" * 4997
    answer = vectorize(harness, {"config": {"model": MODEL}, "texts": ["x"], "mode": "async"},
                       **{"X-Huggingface-Api-Key": token})
    assert (answer.status, answer.body) == (
        401, {"error": "the Hugging Face token has 5000 characters; the limit is 2048", "code": "invalid_token"}
    )
    assert fake_hf.observed.requests == 0
