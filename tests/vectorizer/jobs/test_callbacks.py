"""A job's callback: signed as documented, retried on passing failures only, never redirected or off the list."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import httpx
import pytest

from tests.fakes.in_memory import InMemoryJobStore
from vectorizer.jobs.callbacks import (
    SIGNATURE_HEADER,
    CallbackFailed,
    CallbackSecret,
    CallbackSecretMissing,
    Notifier,
    call_back,
    deliver,
    signature,
)
from vectorizer.jobs.notifications import JobEndedDetail
from vectorizer.settings import Settings

SECRET = "test-callback-secret"
URL = "https://hooks.example.com/jobs/done"
SETTINGS = Settings(CALLBACK_ALLOWED_HOSTS="hooks.example.com", CALLBACK_BACKOFF_BASE_SECONDS=0.01,
                    CALLBACK_BACKOFF_CAP_SECONDS=0.02, CALLBACK_TIMEOUT_SECONDS=1, CALLBACK_MAX_ATTEMPTS=4)
DETAIL = JobEndedDetail(
    job_id="job-1", status="partial", total=3, succeeded=2, failed=1, owner="key-1", model="org/model",
    dimensions=384, failure_reason=None, ended_at="2026-01-02T03:04:05.678Z",
)
BODY = (b'{"jobId":"job-1","status":"partial","total":3,"succeeded":2,"failed":1,"owner":"key-1",'
        b'"model":"org/model","dimensions":384,"failureReason":null,"endedAt":"2026-01-02T03:04:05.678Z"}')


def client_answering(*answers: int | Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.Client, list]:
    """An httpx client whose POSTs get `answers` in turn (a status, or a function of the request)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        return answer(request) if callable(answer) else httpx.Response(answer)

    return httpx.Client(transport=httpx.MockTransport(handle), follow_redirects=False), seen


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def send(client: httpx.Client, url: str = URL, settings: Settings = SETTINGS, seconds: float = 30):
    return deliver(client, url, DETAIL, SECRET, settings, time.monotonic() + seconds, rng=random.Random(1))


def test_the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() -> None:
    assert signature("key", b'{"a":1}', 1700000000) == (
        "t=1700000000,v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
    )


def test_a_callback_posts_the_detail_as_json_signed_with_the_secret() -> None:
    client, seen = client_answering(204)
    outcome = send(client)
    [request] = seen
    assert (outcome.delivered, outcome.attempts, outcome.status) == (True, 1, 204)
    assert (request.method, str(request.url), request.content) == ("POST", URL, BODY)
    assert request.headers["content-type"] == "application/json"
    stamp = int(request.headers[SIGNATURE_HEADER].split(",")[0].removeprefix("t="))
    assert abs(stamp - time.time()) < 5
    assert request.headers[SIGNATURE_HEADER] == signature(SECRET, BODY, stamp)


def test_a_500_and_a_timeout_are_retried_until_the_receiver_takes_it() -> None:
    client, seen = client_answering(500, timeout, 200)
    outcome = send(client)
    assert (outcome.delivered, outcome.attempts, len(seen)) == (True, 3, 3)
    # Each attempt is signed afresh, over the same body.
    assert {request.content for request in seen} == {BODY}


def test_passing_failures_past_the_attempts_ask_for_a_later_try() -> None:
    client, seen = client_answering(503)
    outcome = send(client)
    assert (outcome.delivered, outcome.retry_later, outcome.attempts, len(seen)) == (False, True, 4, 4)
    assert outcome.reason == "answered 503"


def test_no_retry_is_started_that_the_deadline_leaves_no_room_for() -> None:
    client, seen = client_answering(500)
    slow = SETTINGS.model_copy(update={"callback_backoff_base_seconds": 5.0, "callback_backoff_cap_seconds": 5.0})
    waits: list[float] = []
    # With this seed the first wait is 0.67 s: with the POST's own second it would end past the deadline.
    outcome = deliver(client, URL, DETAIL, SECRET, slow, time.monotonic() + 1.5, sleep=waits.append,
                      rng=random.Random(1))
    assert (outcome.delivered, outcome.retry_later, outcome.attempts, len(seen), waits) == (False, True, 1, 1, [])


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_followed_nor_retried(status: int) -> None:
    client, seen = client_answering(
        lambda request: httpx.Response(status, headers={"Location": "https://hooks.example.com/elsewhere"})
    )
    outcome = send(client)
    assert [str(request.url) for request in seen] == [URL]
    assert (outcome.delivered, outcome.retry_later, outcome.status) == (False, False, status)
    assert outcome.reason == f"answered {status}, a redirect (never followed)"


def test_a_4xx_is_final() -> None:
    client, seen = client_answering(404)
    outcome = send(client)
    assert (outcome.delivered, outcome.retry_later, outcome.attempts, len(seen)) == (False, False, 1, 1)


@pytest.mark.parametrize("url", [
    "https://evil.example.net/hook", "http://hooks.example.com/hook", "https://u:p@hooks.example.com/hook",
])
def test_a_url_the_allow_list_no_longer_admits_is_never_called(url: str) -> None:
    client, seen = client_answering(200)
    outcome = send(client, url=url)
    assert (outcome.delivered, outcome.attempts, seen) == (False, 0, [])
    assert outcome.reason is not None and "'callbackUrl'" in outcome.reason


def notifier_for(client: httpx.Client, callback_url: str | None) -> Notifier:
    jobs = InMemoryJobStore()
    jobs.create("job-1", total=3, chunks=1, model="org/model", signing_key="k", owner="key-1",
                callback_url=callback_url)
    return Notifier(settings=SETTINGS, jobs=jobs, http=client,
                    secret=CallbackSecret(SETTINGS.model_copy(update={"callback_signing_secret": SECRET}),
                                          read_secret=lambda arn: ""))


def test_the_notifier_calls_back_only_jobs_that_named_a_url() -> None:
    client, seen = client_answering(200)
    assert call_back(notifier_for(client, None), DETAIL, time.monotonic() + 10) is None
    assert seen == []
    outcome = call_back(notifier_for(client, URL), DETAIL, time.monotonic() + 10)
    assert outcome is not None and outcome.delivered and len(seen) == 1


def test_the_notifier_fails_the_invocation_when_a_later_try_may_deliver() -> None:
    client, _ = client_answering(502)
    with pytest.raises(CallbackFailed, match=r"^callback of job job-1 not delivered after 4 attempt"):
        call_back(notifier_for(client, URL), DETAIL, time.monotonic() + 10)


def test_a_job_that_is_gone_is_not_called_back() -> None:
    client, seen = client_answering(200)
    notifier = notifier_for(client, URL)
    gone = DETAIL.model_copy(update={"job_id": "expired"})
    assert call_back(notifier, gone, time.monotonic() + 10) is None
    assert seen == []


def test_the_secret_is_read_once_from_secrets_manager_else_the_local_value() -> None:
    reads: list[str] = []
    deployed = CallbackSecret(Settings(CALLBACK_SIGNING_SECRET_ARN="arn:secret"),
                              read_secret=lambda arn: reads.append(arn) or "from-secrets-manager")
    assert [deployed.get(), deployed.get()] == ["from-secrets-manager"] * 2
    assert reads == ["arn:secret"]
    assert CallbackSecret(Settings(CALLBACK_SIGNING_SECRET="local"), read_secret=lambda arn: "x").get() == "local"
    with pytest.raises(CallbackSecretMissing):
        CallbackSecret(Settings(), read_secret=lambda arn: "x").get()
