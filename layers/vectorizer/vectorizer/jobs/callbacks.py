"""A job's callback: its end POSTed, signed, to the `callbackUrl` its request named.

The body is the `Vectorizer Job Ended` detail (`jobs.notifications.JobEndedDetail`) as JSON; the
header `X-Vectorizer-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` lets
the receiver check it came from this stack and is fresh (README, "When a job ends"). The URL is
checked again before sending, by the rules it was accepted under (the allow-list may have
changed since), and redirects are never followed: a callback reaches the host that was allowed,
or nothing. Passing failures (timeouts, connection errors, 408, 429, 5xx) are retried with
exponential backoff and full jitter within the caller's deadline; past it the outcome says a
later try may succeed (the notifier then fails, so Lambda retries the event).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vectorizer.config import check_callback_allowed
from vectorizer.errors import JobNotFoundError, VectorizerError
from vectorizer.hf.retry import RetryPolicy
from vectorizer.jobs.notifications import JobEndedDetail
from vectorizer.jobs.ports import JobStorePort
from vectorizer.settings import Settings

if TYPE_CHECKING:  # the client comes from the caller; httpx itself loads when a callback is sent
    import httpx

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Vectorizer-Signature"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

SecretReader = Callable[[str], str]


class CallbackSecretMissing(VectorizerError):
    """Neither CALLBACK_SIGNING_SECRET nor CALLBACK_SIGNING_SECRET_ARN is set: nothing can be signed."""

    status = 500
    code = "callback_secret_missing"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """Takes the signing secret, the exact body bytes and a unix time; returns the header's value.

    `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>." + body under secret>`.
    """
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class CallbackSecret:
    """The key callbacks are signed with: the local value, else the Secrets Manager secret.

    Read once per container (cold start), as the default HF token is.
    """

    def __init__(self, settings: Settings, read_secret: SecretReader) -> None:
        self._settings = settings
        self._read_secret = read_secret
        self._cached: str | None = None

    def get(self) -> str:
        """Returns the signing secret; raises `CallbackSecretMissing` when none is configured."""
        if self._cached is None:
            if self._settings.callback_signing_secret:
                self._cached = self._settings.callback_signing_secret
            elif self._settings.callback_signing_secret_arn:
                self._cached = self._read_secret(self._settings.callback_signing_secret_arn)
            else:
                raise CallbackSecretMissing(
                    "no callback signing secret: set CALLBACK_SIGNING_SECRET or CALLBACK_SIGNING_SECRET_ARN"
                )
        return self._cached


@dataclass(frozen=True)
class CallbackOutcome:
    """What became of one callback: delivered or not, after how many POSTs, and why not."""

    delivered: bool
    attempts: int
    status: int | None = None
    reason: str | None = None
    # Not delivered, but a later try may be (the time or the attempts ran out on a passing failure).
    retry_later: bool = False


def _attempt(client: httpx.Client, url: str, body: bytes, secret: str, timeout: float) -> tuple[int | None, str]:
    """One signed POST; returns (status, why it failed) with status None when there was no answer."""
    import httpx  # for the exceptions below; loaded once the caller built its client

    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body, int(time.time()))}
    try:
        answer = client.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return None, f"no answer within {timeout:.1f} s"
    except httpx.HTTPError as error:
        return None, f"could not connect ({type(error).__name__})"
    if answer.is_redirect:
        return answer.status_code, f"answered {answer.status_code}, a redirect (never followed)"
    return answer.status_code, f"answered {answer.status_code}"


def deliver(
    client: httpx.Client, url: str, detail: JobEndedDetail, secret: str, settings: Settings, deadline: float,
    *, sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
) -> CallbackOutcome:
    """POST `detail` to `url`, signed with `secret`, retrying passing failures until `deadline`.

    Takes an httpx client, the callback URL, the job's end, the secret, the settings (allow-list,
    timeout, attempts, backoff) and a `time.monotonic()` deadline; returns the outcome. A 2xx is
    delivered; a redirect or another 4xx is final (never retried); a URL the allow-list no
    longer admits is not called at all. Raises nothing for a refused or failed callback.
    """
    try:
        check_callback_allowed(url, settings)
    except VectorizerError as refused:
        return CallbackOutcome(delivered=False, attempts=0, reason=refused.message)
    body = detail.to_json().encode("utf-8")
    policy = RetryPolicy(settings.callback_max_attempts, settings.callback_backoff_base_seconds,
                         settings.callback_backoff_cap_seconds)
    rng = rng or random.Random()
    attempt, status, reason = 0, None, ""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        attempt += 1
        status, reason = _attempt(client, url, body, secret, min(settings.callback_timeout_seconds, left))
        if status is not None and 200 <= status < 300:
            return CallbackOutcome(delivered=True, attempts=attempt, status=status)
        if status is not None and status not in RETRYABLE_STATUSES:
            return CallbackOutcome(delivered=False, attempts=attempt, status=status, reason=reason)
        if attempt >= policy.max_attempts:
            break
        wait = policy.backoff(attempt, rng)
        # The next POST needs its wait and at least a second of its own before the deadline.
        if time.monotonic() + wait + 1.0 > deadline:
            break
        logger.warning("callback of a job %s; trying again in %.1f s", reason, wait)
        sleep(wait)
    return CallbackOutcome(delivered=False, attempts=attempt, status=status, reason=reason, retry_later=True)


class CallbackFailed(Exception):
    """A callback that may succeed later: raised so that Lambda retries the event."""


@dataclass
class Notifier:
    """What the notifier function uses: settings, the job records, an HTTP client, the secret."""

    settings: Settings
    jobs: JobStorePort  # only `get` is used
    http: httpx.Client
    secret: CallbackSecret


def call_back(notifier: Notifier, detail: JobEndedDetail, deadline: float) -> CallbackOutcome | None:
    """Send a job's end to the callbackUrl its record keeps; returns the outcome, None without one.

    Takes the notifier's dependencies, the event's detail and a `time.monotonic()` deadline.
    Raises `CallbackFailed` when a later try may deliver it (so Lambda retries the event), and
    `CallbackSecretMissing` when nothing can be signed; a final refusal is logged, not raised.
    """
    try:
        job = notifier.jobs.get(detail.job_id, max_errors=0)
    except JobNotFoundError:
        logger.warning("job %s is gone (expired?): no callback", detail.job_id)
        return None
    if not job.callback_url:
        return None
    outcome = deliver(notifier.http, job.callback_url, detail, notifier.secret.get(), notifier.settings, deadline)
    if outcome.delivered:
        logger.info("callback of job %s delivered after %d attempt(s)", detail.job_id, outcome.attempts)
    elif outcome.retry_later:
        raise CallbackFailed(f"callback of job {detail.job_id} not delivered after {outcome.attempts} "
                             f"attempt(s): {outcome.reason}")
    else:
        logger.error("callback of job %s refused: %s", detail.job_id, outcome.reason)
    return outcome
