"""Fixtures shared by the function and integration tests: moto, the template's stack, a fake HF."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from local.functions import load_function
from local.moto_dynamodb import serialize_in_process_dynamodb
from local.template_stack import DeployedStack, deploy
from tests.fakes.fake_hf_server import FakeHuggingFace, Faults
from tests.function_harness import Harness

DEFAULT_TOKEN = "hf_defaultTOKENabcdefghijklmnop0123"
CALLER_TOKEN = "hf_callerTOKENzyxwvutsrqponmlk9876"

# The worker runs records in threads; moto's DynamoDB needs its requests one at a time to be atomic.
serialize_in_process_dynamodb()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so nothing can ever reach real AWS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": "VectorizerTests",
        "POWERTOOLS_SERVICE_NAME": "vectorizer",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def fake_hf(faults: Faults) -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace(faults) as server:
        yield server


@pytest.fixture
def stack(aws_env: None) -> Iterator[DeployedStack]:
    with mock_aws():
        yield deploy(boto3.client("cloudformation"))


@pytest.fixture
def function_env(stack: DeployedStack, fake_hf: FakeHuggingFace) -> dict[str, str]:
    """What the template gives the functions, pointed at the fake HF, plus test-speed retries."""
    env = {**stack.environment("ApiFunction"), **stack.environment("WorkerFunction")}
    env.update({
        "HF_API_BASE_URL": fake_hf.base_url,
        "HUGGINGFACE_APIKEY": DEFAULT_TOKEN,
        "HF_BACKOFF_BASE_SECONDS": "0.01",
        "HF_BACKOFF_CAP_SECONDS": "0.05",
        "HF_MAX_ATTEMPTS": "8",
        "ENDPOINT_URL_ALLOWED_HOSTS": f"{env.get('ENDPOINT_URL_ALLOWED_HOSTS', '')},http://127.0.0.1:*",
    })
    return env


@pytest.fixture
def harness(function_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, stack: DeployedStack) -> Iterator[Harness]:
    for name, value in function_env.items():
        monkeypatch.setenv(name, value)
    from vectorizer.settings import current_settings

    current_settings.cache_clear()
    harness = Harness(stack, load_function("api"), load_function("worker"), boto3.client("sqs"))
    yield harness
    current_settings.cache_clear()
