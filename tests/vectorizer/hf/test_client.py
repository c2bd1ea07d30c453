"""The HF client against a scripted fake transport: shape of the calls, retries, batching, errors."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from vectorizer.config import ModuleConfig, Target, resolve_target
from vectorizer.errors import HuggingFaceError
from vectorizer.hf import client as client_module
from vectorizer.hf.client import EmbedOutcome, HuggingFaceClient, redact, request_body, request_headers
from vectorizer.hf.usage import HfUsage
from vectorizer.settings import Settings, settings_from

TOKEN = "hf_secretTOKENabcdefghijklmnop0123"
BASE = "https://router.huggingface.co/hf-inference"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_URL = f"{BASE}/models/{MODEL}/pipeline/feature-extraction"


def vector_for(text: str) -> list[float]:
    """What the fake answers for `text-<n>`: exact floats, distinct per text."""
    n = int(text.rsplit("-", 1)[1])
    return [float(n), n / 4, -1.0]


def texts(count: int) -> list[str]:
    return [f"text-{i}" for i in range(count)]


def settings(**env: str) -> Settings:
    return settings_from({"HF_BACKOFF_BASE_SECONDS": "0.5", "HF_BACKOFF_CAP_SECONDS": "20", **env})


def target(config: dict[str, Any] | None = None, purpose: str = "passage", s: Settings | None = None) -> Target:
    return resolve_target(ModuleConfig.model_validate(config or {"model": MODEL}), purpose, s or settings())


class CeilingRng(random.Random):
    """Full jitter drawn at its top, so backoff waits are exact: base * 2**(attempt-1)."""

    def uniform(self, a: float, b: float) -> float:
        return b


Step = Callable[[httpx.Request], httpx.Response] | httpx.Response


@dataclass
class FakeHF:
    """A scripted HF: the first requests get the scripted answers (or exceptions), then vectors.

    Texts in `refuse` make any request that carries them a 400, the way TEI refuses an input.
    """

    script: list[Any] = field(default_factory=list)
    refuse: frozenset[str] = frozenset()
    # A request carrying any of these is answered with 16-wide vectors, as a replica serving
    # another model would answer.
    wide: frozenset[str] = frozenset()
    yields: Callable[[list[str]], int] = lambda inputs: 3  # loop turns a request stays in flight
    requests: list[httpx.Request] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    completed: list[list[str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = json.loads(request.content)
        self.bodies.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(self.yields(body["inputs"])):
                await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        self.completed.append(body["inputs"])
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            if step is not None:
                return step
        refused = [t for t in body["inputs"] if t in self.refuse]
        if refused:
            return httpx.Response(400, json={"error": f"Input validation error: cannot embed {refused[0]!r}"})
        if self.wide & set(body["inputs"]):
            return httpx.Response(200, json=[vector_for(t) + [0.5] * 13 for t in body["inputs"]])
        return httpx.Response(200, json=[vector_for(t) for t in body["inputs"]])

    @property
    def input_batches(self) -> list[list[str]]:
        return [body["inputs"] for body in self.bodies]


@dataclass
class Run:
    outcome: EmbedOutcome
    sleeps: list[float]


def embed(
    fake: FakeHF,
    inputs: list[str],
    *,
    s: Settings | None = None,
    tgt: Target | None = None,
    token: str | None = TOKEN,
    seconds: float = 120.0,
) -> Run:
    sleeps: list[float] = []

    async def sleep(wait: float) -> None:
        sleeps.append(wait)

    async def go() -> EmbedOutcome:
        client = HuggingFaceClient(
            s or settings(), transport=httpx.MockTransport(fake), sleep=sleep, rng=CeilingRng()
        )
        try:
            return await client.embed(tgt or target(), inputs, token, time.monotonic() + seconds)
        finally:
            await client.aclose()

    return Run(asyncio.run(go()), sleeps)


def only_error(outcome: EmbedOutcome) -> HuggingFaceError:
    """The one error shared by every input (a request-wide failure)."""
    errors = list(outcome.errors.values())
    assert errors, "expected every input to fail"
    assert all(error is errors[0] for error in errors)
    return errors[0]


def loading(estimated: float | None = None) -> httpx.Response:
    body: dict[str, Any] = {"error": f"Model {MODEL} is currently loading"}
    if estimated is not None:
        body["estimated_time"] = estimated
    return httpx.Response(503, json=body)


# ------------------------------------------------------------------ the request itself


def test_request_goes_to_the_model_pipeline_url_with_body_and_headers() -> None:
    fake = FakeHF()
    run = embed(fake, ["text-1", "text-2"])
    assert run.outcome.vectors == [vector_for("text-1"), vector_for("text-2")]
    assert run.outcome.errors == {}
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.method == "POST"
    assert str(request.url) == MODEL_URL
    assert fake.bodies[0] == {
        "inputs": ["text-1", "text-2"],
        "options": {"wait_for_model": False, "use_gpu": False, "use_cache": True},
    }
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    # Defaults: neither header is sent.
    assert "x-wait-for-model" not in request.headers
    assert "x-use-cache" not in request.headers


def test_options_reach_body_and_headers() -> None:
    fake = FakeHF()
    tgt = target({"model": MODEL, "options": {"waitForModel": True, "useGPU": True, "useCache": False}})
    embed(fake, ["text-0"], tgt=tgt)
    request = fake.requests[0]
    assert fake.bodies[0]["options"] == {"wait_for_model": True, "use_gpu": True, "use_cache": False}
    assert request.headers["x-wait-for-model"] == "true"
    assert request.headers["x-use-cache"] == "false"


def test_dpr_query_purpose_calls_the_query_model() -> None:
    fake = FakeHF()
    config = {"passageModel": "org/passage-enc", "queryModel": "org/query-enc"}
    embed(fake, ["text-0"], tgt=target(config, "query"))
    embed(fake, ["text-0"], tgt=target(config, "passage"))
    assert [str(r.url) for r in fake.requests] == [
        f"{BASE}/models/org/query-enc/pipeline/feature-extraction",
        f"{BASE}/models/org/passage-enc/pipeline/feature-extraction",
    ]


def test_endpoint_url_is_called_verbatim() -> None:
    fake = FakeHF()
    url = "https://abc123.us-east-1.aws.endpoints.huggingface.cloud/embed?api-version=2"
    embed(fake, ["text-0"], tgt=target({"endpointURL": url, "model": MODEL}))
    assert str(fake.requests[0].url) == url


def test_base_url_setting_is_used_without_a_double_slash() -> None:
    fake = FakeHF()
    s = settings(HF_API_BASE_URL="https://hf.example.test/inference/")
    embed(fake, ["text-0"], s=s, tgt=target(s=s))
    assert str(fake.requests[0].url) == f"https://hf.example.test/inference/models/{MODEL}/pipeline/feature-extraction"


def test_no_token_means_no_authorization_header() -> None:
    fake = FakeHF()
    embed(fake, ["text-0"], token=None)
    assert "authorization" not in fake.requests[0].headers


def test_non_ascii_texts_are_sent_as_utf8() -> None:
    fake = FakeHF()
    embed(fake, ["naïve café 東京-3"])
    assert fake.requests[0].content == (
        '{"inputs": ["naïve café 東京-3"], "options": {"wait_for_model": false, "use_gpu": false, '
        '"use_cache": true}}'
    ).encode()


def test_request_helpers() -> None:
    tgt = target({"model": MODEL, "options": {"useCache": False}})
    assert request_headers("tok", tgt) == {
        "Content-Type": "application/json", "Accept": "application/json", "Authorization": "Bearer tok",
        "x-use-cache": "false",
    }
    assert json.loads(request_body(["a"], tgt)) == {
        "inputs": ["a"], "options": {"wait_for_model": False, "use_gpu": False, "use_cache": False}
    }
    assert redact("token hf_x and hf_x", "hf_x") == "token *** and ***"
    assert redact("no secret", None) == "no secret"
    assert redact("no secret", "") == "no secret"


def test_empty_input_makes_no_request() -> None:
    fake = FakeHF()
    run = embed(fake, [])
    assert (run.outcome.vectors, run.outcome.errors, fake.requests) == ([], {}, [])
    assert run.outcome.dimensions is None


# ------------------------------------------------------------------ batching, concurrency, order


def test_batches_hold_at_most_hf_batch_size_contiguous_inputs() -> None:
    fake = FakeHF()
    inputs = texts(10)
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="4"))
    assert sorted(fake.input_batches) == [inputs[0:4], inputs[4:8], inputs[8:10]]
    assert run.outcome.vectors == [vector_for(t) for t in inputs]
    assert run.outcome.dimensions == 3


def long_text(n: int, chars: int) -> str:
    """`text-<n>` padded at the front to exactly `chars` characters, so the fake still knows its vector."""
    tail = f"-{n}"
    return "x" * (chars - len(tail)) + tail


def test_long_texts_are_batched_within_hf_batch_chars() -> None:
    # Budget 1,000 characters, like lengths together: the four 10s fill one request; 300+300+300
    # fit, a 4th 300 would make 1,200; the 900 cannot join the last 300.
    inputs = [long_text(0, 300), long_text(1, 300), long_text(2, 300), long_text(3, 300),
              long_text(4, 10), long_text(5, 10), long_text(6, 900), long_text(7, 10), long_text(8, 10)]
    fake = FakeHF()
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="4", HF_BATCH_CHARS="1000"))
    assert all(sum(len(t) for t in batch) <= 1000 or len(batch) == 1 for batch in fake.input_batches)
    assert sorted(fake.input_batches) == sorted([
        [inputs[4], inputs[5], inputs[7], inputs[8]], inputs[0:3], inputs[3:4], inputs[6:7]])
    assert run.outcome.vectors == [vector_for(t) for t in inputs]


def test_texts_of_like_length_share_a_request_so_none_is_padded_to_a_long_neighbour() -> None:
    inputs = [long_text(n, 400 if n % 2 else 20) for n in range(64)]  # short and long, alternating
    fake = FakeHF()
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="32", HF_BATCH_CHARS="100000"))
    assert sorted(sorted(len(t) for t in batch) for batch in fake.input_batches) == [[20] * 32, [400] * 32]
    assert run.outcome.vectors == [vector_for(t) for t in inputs]


def test_a_text_over_hf_batch_chars_alone_gets_a_request_of_its_own() -> None:
    inputs = [long_text(0, 10), long_text(1, 2500), long_text(2, 10), long_text(3, 10)]
    fake = FakeHF()
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="32", HF_BATCH_CHARS="1000"))
    assert sorted(fake.input_batches) == sorted([[inputs[0], inputs[2], inputs[3]], inputs[1:2]])
    assert run.outcome.vectors == [vector_for(t) for t in inputs]
    assert run.outcome.errors == {}


def test_hf_batch_chars_defaults_to_32_texts_of_1000_characters() -> None:
    assert settings().hf_batch_chars == 32_000
    inputs = [long_text(i, 1000) for i in range(33)] + [long_text(33, 1)]
    fake = FakeHF()
    embed(fake, inputs, s=settings(HF_BATCH_SIZE="64"))
    # Shortest first: the 1-character text and 31 of 1,000 make 31,001; a 32nd would pass 32,000.
    assert sorted(fake.input_batches) == sorted([[inputs[33], *inputs[0:31]], inputs[31:33]])


def test_results_are_in_input_order_when_batches_finish_out_of_order() -> None:
    # Earlier batches stay in flight longer, so they finish last.
    fake = FakeHF(yields=lambda batch: 50 - int(batch[0].rsplit("-", 1)[1]))
    inputs = texts(12)
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="2", HF_CONCURRENCY="6"))
    assert fake.completed[0] != inputs[0:2]  # the scenario really is out of order
    assert run.outcome.vectors == [vector_for(t) for t in inputs]
    assert run.outcome.errors == {}


@pytest.mark.parametrize("concurrency", [1, 3, 5])
def test_concurrency_is_capped_at_hf_concurrency_and_used(concurrency: int) -> None:
    fake = FakeHF(yields=lambda batch: 10)
    inputs = texts(40)
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="2", HF_CONCURRENCY=str(concurrency)))
    assert len(fake.requests) == 20
    assert fake.max_in_flight == concurrency
    assert run.outcome.vectors == [vector_for(t) for t in inputs]


def test_a_freed_slot_sends_its_next_request_before_the_answer_that_freed_it_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One slot, two batches: the second request must leave as soon as the first answer is in,
    # not after that answer's parsing (which, for a wave of answers, would queue every next request).
    events: list[str] = []
    fake = FakeHF()
    original = client_module.parse_embeddings

    def parse(data: Any, expected: int) -> list[list[float]]:
        events.append(f"parse {data[0][0]:.0f}")
        return original(data, expected=expected)

    async def transport(request: httpx.Request) -> httpx.Response:
        events.append(f"send {json.loads(request.content)['inputs'][0]}")
        return await fake(request)

    monkeypatch.setattr(client_module, "parse_embeddings", parse)
    inputs = texts(2)
    sleeps: list[float] = []

    async def go() -> EmbedOutcome:
        async def sleep(wait: float) -> None:
            sleeps.append(wait)

        client = HuggingFaceClient(settings(HF_BATCH_SIZE="1", HF_CONCURRENCY="1"),
                                   transport=httpx.MockTransport(transport), sleep=sleep)
        try:
            return await client.embed(target(), inputs, TOKEN, time.monotonic() + 60)
        finally:
            await client.aclose()

    outcome = asyncio.run(go())
    assert outcome.vectors == [vector_for(t) for t in inputs]
    assert events.index("send text-1") < events.index("parse 0")


def test_concurrency_cap_holds_during_retries_and_bisection() -> None:
    fake = FakeHF(
        script=[loading(0.0), httpx.Response(500, json={"error": "boom"})], refuse=frozenset({"text-3", "text-17"}),
        yields=lambda batch: 8,
    )
    inputs = texts(24)
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="4", HF_CONCURRENCY="2"))
    assert fake.max_in_flight == 2
    assert sorted(run.outcome.errors) == [3, 17]
    assert [i for i, v in enumerate(run.outcome.vectors) if v is None] == [3, 17]


# ------------------------------------------------------------------ retries


def test_503_loading_is_retried_after_estimated_time_then_succeeds() -> None:
    fake = FakeHF(script=[loading(7.5), loading(3.0)])
    run = embed(fake, ["text-0", "text-1"])
    assert run.outcome.vectors == [vector_for("text-0"), vector_for("text-1")]
    assert run.outcome.errors == {}
    assert run.sleeps == [7.5, 3.0]
    assert len(fake.requests) == 3
    # The same inputs every time.
    assert fake.input_batches == [["text-0", "text-1"]] * 3


def test_503_estimated_time_is_capped() -> None:
    fake = FakeHF(script=[loading(600.0)])
    run = embed(fake, ["text-0"], s=settings(HF_BACKOFF_CAP_SECONDS="20"))
    assert run.sleeps == [20.0]
    assert run.outcome.vectors == [vector_for("text-0")]


def test_429_is_retried_after_retry_after() -> None:
    fake = FakeHF(script=[httpx.Response(429, json={"error": "Rate limit reached"}, headers={"Retry-After": "3"})])
    run = embed(fake, ["text-0"])
    assert run.sleeps == [3.0]
    assert run.outcome.vectors == [vector_for("text-0")]
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_is_retried_with_exponential_backoff(status: int) -> None:
    fake = FakeHF(script=[httpx.Response(status, text="upstream trouble")] * 3)
    run = embed(fake, ["text-0"])
    # CeilingRng draws the top of full jitter: 0.5 * 2**(attempt-1).
    assert run.sleeps == [0.5, 1.0, 2.0]
    assert run.outcome.vectors == [vector_for("text-0")]
    assert len(fake.requests) == 4


def test_mixed_passing_failures_are_all_retried() -> None:
    fake = FakeHF(script=[
        loading(1.25),
        httpx.Response(429, json={"error": "slow down"}, headers={"Retry-After": "2"}),
        httpx.Response(500, json={"error": "boom"}),
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(504, text="Gateway Timeout"),
    ])
    run = embed(fake, ["text-0"], s=settings(HF_MAX_ATTEMPTS="6"))
    # HF's own waits for 503 and 429; then backoff for attempts 3, 4, 5: 0.5 * 2**(attempt-1).
    assert run.sleeps == [1.25, 2.0, 2.0, 4.0, 8.0]
    assert run.outcome.vectors == [vector_for("text-0")]


@pytest.mark.parametrize(
    "exception",
    [httpx.ConnectTimeout("connect timed out"), httpx.ReadTimeout("read timed out"), httpx.PoolTimeout("pool"),
     httpx.ConnectError("connection refused"), httpx.RemoteProtocolError("server disconnected")],
)
def test_transport_failures_are_retried_then_succeed(exception: Exception) -> None:
    fake = FakeHF(script=[exception, exception])
    run = embed(fake, ["text-0", "text-1"])
    assert run.outcome.vectors == [vector_for("text-0"), vector_for("text-1")]
    assert run.sleeps == [0.5, 1.0]
    assert len(fake.requests) == 3


def test_retries_run_out_and_every_input_of_the_request_gets_the_error() -> None:
    fake = FakeHF(script=[loading(0.0)] * 10)
    run = embed(fake, ["text-0", "text-1", "text-2"], s=settings(HF_MAX_ATTEMPTS="3"))
    assert len(fake.requests) == 3
    assert run.sleeps == [0.0, 0.0]
    assert run.outcome.vectors == [None, None, None]
    assert sorted(run.outcome.errors) == [0, 1, 2]
    error = only_error(run.outcome)
    assert (error.status, error.code, error.retryable) == (503, "hf_model_loading", True)
    assert error.message == (
        f"Hugging Face model is loading or unavailable: Model {MODEL} is currently loading (estimated time 0 s)"
    )
    assert run.outcome.first_request_wide_error() is error


def test_one_failing_batch_does_not_fail_the_others() -> None:
    fake = FakeHF(script=[httpx.Response(500, json={"error": "boom"})])
    inputs = texts(4)
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="2", HF_CONCURRENCY="1", HF_MAX_ATTEMPTS="1"))
    # With one request at a time and no retry, the first batch takes the 500 and gives up.
    assert run.outcome.vectors == [None, None, vector_for("text-2"), vector_for("text-3")]
    assert sorted(run.outcome.errors) == [0, 1]
    assert run.outcome.errors[0].code == "hf_upstream_error"


def test_no_retry_is_planned_past_the_deadline() -> None:
    fake = FakeHF(script=[loading(15.0)])
    run = embed(fake, ["text-0"], seconds=10.0)
    assert len(fake.requests) == 1
    assert run.sleeps == []
    assert only_error(run.outcome).code == "hf_model_loading"


def test_no_request_once_the_deadline_has_passed() -> None:
    fake = FakeHF()
    run = embed(fake, ["text-0", "text-1"], seconds=-1.0)
    assert fake.requests == []
    error = only_error(run.outcome)
    assert (error.status, error.code, error.retryable) == (504, "hf_timeout", False)
    assert error.message == "Hugging Face did not answer before the deadline"


def test_request_timeout_never_outlives_the_deadline() -> None:
    fake = FakeHF()
    embed(fake, ["text-0"], s=settings(HF_TIMEOUT_SECONDS="25"), seconds=5.0)
    timeout = fake.requests[0].extensions["timeout"]
    assert 0 < timeout["read"] <= 5.0
    assert 0 < timeout["connect"] <= 5.0
    fake = FakeHF()
    embed(fake, ["text-0"], s=settings(HF_TIMEOUT_SECONDS="3"), seconds=100.0)
    assert fake.requests[0].extensions["timeout"]["read"] == 3.0


# ------------------------------------------------------------------ errors reaching the caller


@pytest.mark.parametrize(
    ("response", "status", "code", "message"),
    [
        (loading(12.0), 503, "hf_model_loading",
         f"Hugging Face model is loading or unavailable: Model {MODEL} is currently loading (estimated time 12 s)"),
        (httpx.Response(429, json={"error": "Rate limit reached"}, headers={"Retry-After": "30"}), 429,
         "hf_rate_limited", "Hugging Face rate limit reached: Rate limit reached"),
        (httpx.Response(401, json={"error": "Invalid credentials in Authorization header"}), 401,
         "hf_token_rejected", "Hugging Face rejected the token: Invalid credentials in Authorization header"),
        (httpx.Response(403, json={"error": "Access to model is restricted"}), 502, "hf_forbidden",
         "Hugging Face refused access with this token: Access to model is restricted"),
        (httpx.Response(404, json={"error": "Model not found"}), 400, "hf_model_not_found",
         "Hugging Face has no such model or endpoint: Model not found"),
        (httpx.Response(400, json={"error": "Input validation error: `inputs` must have less than 512 tokens"}),
         400, "hf_input_rejected",
         "Hugging Face refused the input: Input validation error: `inputs` must have less than 512 tokens"),
        (httpx.Response(504, text="upstream request timeout"), 504, "hf_timeout",
         "Hugging Face timed out: upstream request timeout"),
        (httpx.Response(500, json={"error": "CUDA out of memory"}), 502, "hf_upstream_error",
         "Hugging Face failed with status 500: CUDA out of memory"),
    ],
)
def test_hf_errors_reach_the_caller_with_the_status_mapping(
    response: httpx.Response, status: int, code: str, message: str
) -> None:
    # The deadline leaves no room for a retry, so the first answer is the outcome.
    fake = FakeHF(script=[response] * 10)
    run = embed(fake, ["text-0"], s=settings(HF_MAX_ATTEMPTS="1"))
    assert len(fake.requests) == 1
    error = only_error(run.outcome)
    assert (error.status, error.code, error.message) == (status, code, message)
    assert error.to_body() == {"error": message, "code": code}


def test_exhausted_timeouts_are_reported_as_504() -> None:
    fake = FakeHF(script=[httpx.ReadTimeout("read timed out")] * 3)
    run = embed(fake, ["text-0"], s=settings(HF_MAX_ATTEMPTS="3", HF_TIMEOUT_SECONDS="25"))
    error = only_error(run.outcome)
    assert (error.status, error.code, error.retryable) == (504, "hf_timeout", True)
    assert error.message == "Hugging Face timed out after 25.0 s (ReadTimeout)"


def test_exhausted_connection_failures_are_reported_as_502() -> None:
    fake = FakeHF(script=[httpx.ConnectError("refused")] * 2)
    run = embed(fake, ["text-0"], s=settings(HF_MAX_ATTEMPTS="2"))
    error = only_error(run.outcome)
    assert (error.status, error.code) == (502, "hf_unreachable")
    assert error.message == "Hugging Face could not be reached (ConnectError)"


def test_unusable_200_answer_is_not_retried() -> None:
    fake = FakeHF(script=[httpx.Response(200, json=[[1.0, 2.0]])])  # one vector for two inputs
    run = embed(fake, ["text-0", "text-1"])
    assert len(fake.requests) == 1
    error = only_error(run.outcome)
    assert (error.status, error.code, error.retryable) == (502, "hf_bad_response", False)
    assert error.message == "Hugging Face returned an unusable answer: 1 vectors for 2 inputs"


def test_a_200_that_is_not_json_is_retried_like_a_502() -> None:
    # A proxy's HTML error page under status 200 is no verdict on the inputs: it failed them for good.
    fake = FakeHF(script=[httpx.Response(200, text="<html><body>502 Bad Gateway</body></html>")])
    run = embed(fake, ["text-0", "text-1"])
    assert run.outcome.vectors == [vector_for("text-0"), vector_for("text-1")]
    assert run.outcome.errors == {}
    assert run.sleeps == [0.5]
    assert len(fake.requests) == 2


def test_a_200_that_is_never_json_ends_as_a_passing_bad_response() -> None:
    fake = FakeHF(script=[httpx.Response(200, text="<html>maintenance</html>")] * 3)
    run = embed(fake, ["text-0"], s=settings(HF_MAX_ATTEMPTS="3"))
    error = only_error(run.outcome)
    assert (error.status, error.code, error.retryable) == (502, "hf_bad_response", True)
    assert error.message == "Hugging Face returned an unusable answer: a body that is not JSON"
    assert len(fake.requests) == 3


def test_vectors_of_one_request_share_one_width_across_batches() -> None:
    # Batches are separate answers: batches of 3 and 16 dimensions were mixed in one request.
    fake = FakeHF(wide=frozenset({"text-2"}))
    run = embed(fake, texts(6), s=settings(HF_BATCH_SIZE="2"))
    assert run.outcome.vectors == [vector_for("text-0"), vector_for("text-1"), None, None,
                                   vector_for("text-4"), vector_for("text-5")]
    assert sorted(run.outcome.errors) == [2, 3]
    for error in run.outcome.errors.values():
        assert (error.status, error.code, error.retryable, error.item_specific) == (502, "hf_bad_response", False, True)
        assert error.message == "HF answered 16 dimensions where this request's other vectors have 3"
    assert run.outcome.dimensions == 3
    assert run.outcome.first_request_wide_error() is None


def test_the_width_most_vectors_share_is_kept() -> None:
    fake = FakeHF(wide=frozenset({"text-2", "text-4"}))
    run = embed(fake, texts(6), s=settings(HF_BATCH_SIZE="2"))
    assert [i for i, v in enumerate(run.outcome.vectors) if v is None] == [0, 1]
    assert run.outcome.errors[0].message == "HF answered 3 dimensions where this request's other vectors have 16"
    assert {len(v) for v in run.outcome.vectors if v is not None} == {16}


def test_on_a_tie_the_earliest_inputs_width_is_kept() -> None:
    fake = FakeHF(wide=frozenset({"text-2"}))
    run = embed(fake, texts(4), s=settings(HF_BATCH_SIZE="2"))
    assert [i for i, v in enumerate(run.outcome.vectors) if v is None] == [2, 3]


def test_keep_width_fails_only_the_odd_vectors() -> None:
    outcome = EmbedOutcome(vectors=[[1.0, 2.0], None, [1.0, 2.0, 3.0]])
    outcome.keep_width(3, "this job's other vectors")
    assert outcome.vectors == [None, None, [1.0, 2.0, 3.0]]
    assert list(outcome.errors) == [0]
    assert outcome.errors[0].message == "HF answered 2 dimensions where this job's other vectors have 3"


def test_a_url_the_http_client_refuses_is_a_config_error_not_a_crash() -> None:
    fake = FakeHF()
    bad = Target(url="https://abc.endpoints.huggingface.cloud/\tx", model="m", options=target().options)
    run = embed(fake, ["text-0"], tgt=bad)
    error = only_error(run.outcome)
    assert (error.status, error.code, error.retryable) == (400, "invalid_config", False)
    assert fake.requests == []


def test_redirect_is_not_followed_so_the_token_stays_put() -> None:
    fake = FakeHF(script=[httpx.Response(302, headers={"Location": "https://evil.example.com/steal"})])
    run = embed(fake, ["text-0"])
    assert [str(r.url) for r in fake.requests] == [MODEL_URL]
    assert only_error(run.outcome).code == "hf_unexpected_status"


def test_token_echoed_by_hf_is_redacted_from_the_error() -> None:
    fake = FakeHF(script=[httpx.Response(401, json={"error": f"Authorization header is invalid: Bearer {TOKEN}"})])
    run = embed(fake, ["text-0"])
    error = only_error(run.outcome)
    assert error.message == "Hugging Face rejected the token: Authorization header is invalid: Bearer ***"
    assert TOKEN not in str(error)
    assert all(TOKEN not in str(arg) for arg in error.args)


def test_token_echoed_in_a_retried_error_is_redacted_too() -> None:
    fake = FakeHF(script=[httpx.Response(429, json={"error": f"rate limit for {TOKEN}"})] * 5)
    run = embed(fake, ["text-0", "text-1"], s=settings(HF_MAX_ATTEMPTS="2"))
    for error in run.outcome.errors.values():
        assert TOKEN not in error.message
        assert error.message == "Hugging Face rate limit reached: rate limit for ***"


@pytest.mark.parametrize(
    "script",
    [
        [httpx.Response(400, json={"error": f"bad input {TOKEN}"})],
        [httpx.Response(500, text=f"trace: Authorization: Bearer {TOKEN}")],
        [httpx.ReadTimeout(f"timed out calling with {TOKEN}")],
        [httpx.ConnectError(f"cannot connect {TOKEN}")],
        [httpx.Response(200, text=f"<html>{TOKEN}</html>")],
        [httpx.Response(302, headers={"Location": f"https://x/?t={TOKEN}"}, text=TOKEN)],
    ],
)
def test_the_token_never_appears_in_any_error_message(script: list[Any]) -> None:
    fake = FakeHF(script=script * 5)
    run = embed(fake, ["text-0"], s=settings(HF_MAX_ATTEMPTS="2"))
    error = only_error(run.outcome)
    assert TOKEN not in error.message
    assert TOKEN not in str(error)
    assert TOKEN not in json.dumps(error.to_body())


def test_no_piece_of_the_token_survives_the_error_length_cap() -> None:
    # HF's message is cut at 500 characters; a token straddling the cut must not leak its first half.
    padding = "x" * 470
    fake = FakeHF(script=[httpx.Response(401, json={"error": f"{padding} invalid token {TOKEN} given"})])
    run = embed(fake, ["text-0"])
    message = only_error(run.outcome).message
    secret = TOKEN.removeprefix("hf_")
    pieces = {secret[i:i + 8] for i in range(len(secret) - 7)}
    assert [piece for piece in pieces if piece in message] == []


# ------------------------------------------------------------------ isolating a refused input


def test_a_refused_input_does_not_fail_its_neighbours() -> None:
    fake = FakeHF(refuse=frozenset({"text-5"}))
    inputs = texts(8)
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="8"))
    assert run.outcome.vectors == [vector_for(t) if t != "text-5" else None for t in inputs]
    assert list(run.outcome.errors) == [5]
    error = run.outcome.errors[5]
    assert (error.status, error.code, error.item_specific) == (400, "hf_input_rejected", True)
    assert error.message == "Hugging Face refused the input: Input validation error: cannot embed 'text-5'"
    # Bisection: [0-7] -> [0-3] ok, [4-7] -> [4,5] -> [4] ok, [5] refused; [6,7] ok. No retries.
    assert sorted(map(tuple, fake.input_batches)) == sorted([
        tuple(inputs), tuple(inputs[0:4]), tuple(inputs[4:8]), ("text-4", "text-5"), ("text-6", "text-7"),
        ("text-4",), ("text-5",),
    ])
    assert run.sleeps == []
    # An input-specific failure is not a request-wide one.
    assert run.outcome.first_request_wide_error() is None
    assert run.outcome.dimensions == 3


def test_several_refused_inputs_across_batches() -> None:
    fake = FakeHF(refuse=frozenset({"text-0", "text-6", "text-7"}))
    inputs = texts(10)
    run = embed(fake, inputs, s=settings(HF_BATCH_SIZE="4"))
    assert sorted(run.outcome.errors) == [0, 6, 7]
    assert [i for i, v in enumerate(run.outcome.vectors) if v is not None] == [1, 2, 3, 4, 5, 8, 9]
    assert all(run.outcome.vectors[i] == vector_for(inputs[i]) for i in (1, 2, 3, 4, 5, 8, 9))


def test_every_input_refused() -> None:
    inputs = texts(3)
    fake = FakeHF(refuse=frozenset(inputs))
    run = embed(fake, inputs)
    assert run.outcome.vectors == [None, None, None]
    assert sorted(run.outcome.errors) == [0, 1, 2]
    assert run.outcome.dimensions is None
    assert run.outcome.first_request_wide_error() is None
    assert [run.outcome.errors[i].message for i in range(3)] == [
        f"Hugging Face refused the input: Input validation error: cannot embed 'text-{i}'" for i in range(3)
    ]


def test_request_wide_error_is_the_first_by_index() -> None:
    wide_late = HuggingFaceError("late", status=429, code="hf_rate_limited", retryable=True)
    wide_early = HuggingFaceError("early", status=503, code="hf_model_loading", retryable=True)
    item = HuggingFaceError("item", status=400, code="hf_input_rejected", item_specific=True)
    outcome = EmbedOutcome(vectors=[None, None, None, [1.0]], errors={2: wide_late, 0: item, 1: wide_early})
    assert outcome.first_request_wide_error() is wide_early
    assert outcome.dimensions == 1


def test_client_is_reusable_across_calls_and_closes() -> None:
    fake = FakeHF()
    sleeps: list[float] = []

    async def sleep(wait: float) -> None:
        sleeps.append(wait)

    async def go() -> tuple[EmbedOutcome, EmbedOutcome, bool]:
        client = HuggingFaceClient(settings(), transport=httpx.MockTransport(fake), sleep=sleep)
        first = await client.embed(target(), ["text-1"], TOKEN, time.monotonic() + 60)
        second = await client.embed(target(), ["text-2"], TOKEN, time.monotonic() + 60)
        await client.aclose()
        await client.aclose()  # closing twice is harmless
        return first, second, client._http is None

    first, second, closed = asyncio.run(go())
    assert (first.vectors, second.vectors, closed) == ([vector_for("text-1")], [vector_for("text-2")], True)


# ------------------------------------------------------------------ usage


def test_usage_counts_texts_sent_and_requests_with_bisection_halves_but_not_retries() -> None:
    # Five requests of two; a 503 retried once (not counted again); text-3 refused, so its
    # request [2, 3] is split into two more requests.
    fake = FakeHF(script=[loading(0.0)], refuse=frozenset({"text-3"}))
    run = embed(fake, texts(10), s=settings(HF_BATCH_SIZE="2"))
    assert len(fake.requests) == 8  # 5 + the retry + 2 halves
    assert run.outcome.usage == HfUsage(texts=10, cache_hits=0, sent=10, requests=7, requests_saved=0)
    assert sorted(run.outcome.errors) == [3]
