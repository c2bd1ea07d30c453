"""The authorizer function, and what the API function makes of its answer on the compatible routes."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from local.api_gateway import http_answer
from local.functions import load_function
from local.lambda_context import LocalContext
from tests.conftest import CALLER_TOKEN, DEFAULT_TOKEN
from tests.fakes.fake_hf_server import FakeHuggingFace
from tests.function_harness import Harness

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLE_KEY = "sam-local-example-api-key-0000000000000"


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def authorizer(aws_env: None):
    return load_function("authorizer")


def test_the_sample_request_event_is_allowed_with_its_bearer_as_the_usage_identifier_key(authorizer) -> None:
    event = sample("authorizer-request.json")
    answer = authorizer.lambda_handler(event, LocalContext("AuthorizerFunction", 5))
    assert answer == {
        "principalId": "key-" + hashlib.sha256(SAMPLE_KEY.encode()).hexdigest()[:16],
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]},
        "usageIdentifierKey": SAMPLE_KEY,
        "context": {"apiKeySource": "bearer"},
    }


def test_the_authorizer_never_logs_the_key(authorizer, capsys: pytest.CaptureFixture[str]) -> None:
    authorizer.lambda_handler(sample("authorizer-request.json"), LocalContext("AuthorizerFunction", 5))
    assert SAMPLE_KEY not in capsys.readouterr().out


def invoke_api(harness: Harness, event: dict) -> tuple[int, object]:
    status, _, body = http_answer(harness.api_module.lambda_handler(event, LocalContext("ApiFunction", 29)))
    return status, json.loads(body)


def test_a_bearer_consumed_as_the_api_key_is_not_sent_to_hugging_face(
    harness: Harness, fake_hf: FakeHuggingFace
) -> None:
    # Weaviate's request with the service's key as its bearer: HF gets the default token.
    status, body = invoke_api(harness, sample("api-hf-feature-extraction-bearer-key.json"))
    assert status == 200, body
    assert len(body) == 2
    assert fake_hf.observed.authorizations == {f"Bearer {DEFAULT_TOKEN}"}


def test_with_the_bearer_as_api_key_the_hugging_face_header_still_brings_the_callers_token(
    harness: Harness, fake_hf: FakeHuggingFace
) -> None:
    event = copy.deepcopy(sample("api-hf-feature-extraction-bearer-key.json"))
    event["headers"]["X-Huggingface-Api-Key"] = CALLER_TOKEN
    event["multiValueHeaders"]["X-Huggingface-Api-Key"] = [CALLER_TOKEN]
    status, body = invoke_api(harness, event)
    assert status == 200, body
    assert fake_hf.observed.authorizations == {f"Bearer {CALLER_TOKEN}"}


def test_without_a_default_token_a_bearer_api_key_alone_is_a_missing_token(
    harness: Harness, fake_hf: FakeHuggingFace, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.reconfigure(monkeypatch, HUGGINGFACE_APIKEY="", HUGGINGFACE_APIKEY_SECRET_ARN="")
    status, body = invoke_api(harness, sample("api-hf-feature-extraction-bearer-key.json"))
    assert status == 401
    assert "no Hugging Face token" in body["error"] and SAMPLE_KEY not in json.dumps(body)
    assert fake_hf.observed.authorizations == set()


def test_a_bearer_passed_with_x_api_key_is_still_the_hugging_face_token(
    harness: Harness, fake_hf: FakeHuggingFace
) -> None:
    event = copy.deepcopy(sample("api-hf-feature-extraction-bearer-key.json"))
    event["headers"].update({"x-api-key": SAMPLE_KEY, "Authorization": f"Bearer {CALLER_TOKEN}"})
    event["multiValueHeaders"].update({"x-api-key": [SAMPLE_KEY], "Authorization": [f"Bearer {CALLER_TOKEN}"]})
    event["requestContext"]["authorizer"]["apiKeySource"] = "header"
    status, body = invoke_api(harness, event)
    assert status == 200, body
    assert fake_hf.observed.authorizations == {f"Bearer {CALLER_TOKEN}"}
