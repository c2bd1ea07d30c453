"""Weaviate's text2vec-huggingface with `endpointURL` against the service with API keys on.

Weaviate sends only `Authorization: Bearer <its HF API key>`; configured with the service's API
key as that HF key, it gets its vectors through the REST API's authorizer, and without a valid
key API Gateway's 403. One local stack for the module, with LOCAL_REQUIRE_API_KEY=1 and the real
all-MiniLM-L6-v2 endpoint (the stack's default HF token serves the call).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.launcher import ReadyStack, started_stack
from tests.e2e.conftest import stack_ports
from tests.e2e.test_clients import MODEL, TEXTS, assert_same_vectors, expected, weaviate_decode, weaviate_request

pytestmark = pytest.mark.e2e

SERVICE_KEY = "e2eServiceKey0123456789abcdefgh"
PATH = f"/models/{MODEL}/pipeline/feature-extraction"


@pytest.fixture(scope="module")
def keyed_stack() -> Iterator[ReadyStack]:
    env = {**stack_ports(), "HF_API_BASE_URL": "", "LOCAL_REQUIRE_API_KEY": "1", "LOCAL_API_KEYS": SERVICE_KEY}
    with started_stack(env=env) as stack:
        yield stack


def test_weaviate_with_the_service_key_as_its_hf_key_gets_the_models_vectors(keyed_stack: ReadyStack, encoder) -> None:
    body, headers = weaviate_request(TEXTS, api_key=SERVICE_KEY)
    assert set(headers) == {"User-Agent", "Authorization", "Content-Type", "Accept-Encoding"}
    answer = httpx.post(f"{keyed_stack.api.rstrip('/')}{PATH}", content=body, headers=headers, timeout=120,
                        follow_redirects=False)
    assert answer.status_code == 200, answer.text
    assert_same_vectors(weaviate_decode(answer), expected(encoder, TEXTS))


@pytest.mark.parametrize("api_key", ["notTheServiceKey", None], ids=["unknown-key", "no-key"])
def test_weaviate_without_a_valid_key_gets_403(keyed_stack: ReadyStack, api_key: str | None) -> None:
    body, headers = weaviate_request(TEXTS, api_key=api_key or "unused")
    if api_key is None:
        del headers["Authorization"]
    answer = httpx.post(f"{keyed_stack.api.rstrip('/')}{PATH}", content=body, headers=headers, timeout=120)
    assert (answer.status_code, answer.json()) == (403, {"message": "Forbidden"})


def test_health_needs_no_key_with_keys_on(keyed_stack: ReadyStack) -> None:
    answer = httpx.get(f"{keyed_stack.api.rstrip('/')}/health", timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
