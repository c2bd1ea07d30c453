"""The Hugging Face feature-extraction client: batching, concurrency, retries, error isolation.

Inputs go out in requests of at most `hf_batch_size` texts and `hf_batch_chars` characters
(a longer text alone gets a request of its own) over one pooled `httpx.AsyncClient`, and come
back in input order. How many requests are in flight at once is the client's, not the call's:
every `embed` call shares one `AimdLimiter` of up to `hf_concurrency`, which HF's 429/503
answers cut and its successes grow back. A request HF refuses
because of its inputs (400/413/422) is split in halves until the one input at fault is found,
so a bad text never takes its neighbours down with it. Anything else that fails is retried per
`RetryPolicy` and, once retries run out, reported for each input of that request.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vectorizer.config import Target
from vectorizer.errors import HuggingFaceError
from vectorizer.hf.limiter import AimdLimiter
from vectorizer.hf.response import classify_failure, decode_json, parse_embeddings
from vectorizer.hf.retry import RetryPolicy
from vectorizer.hf.usage import HfUsage
from vectorizer.packing import pack
from vectorizer.settings import Settings

if TYPE_CHECKING:  # httpx is imported when the first request goes out, not on a cold start
    import httpx

Sleep = Callable[[float], Awaitable[None]]
REDACTED = "***"


@dataclass
class EmbedOutcome:
    """One entry per input: a vector, or the error that kept it from having one; and what it cost."""

    vectors: list[list[float] | None]
    errors: dict[int, HuggingFaceError] = field(default_factory=dict)
    usage: HfUsage = field(default_factory=HfUsage)

    @property
    def dimensions(self) -> int | None:
        """The width of the vectors that came back, or None when none did."""
        return next((len(vector) for vector in self.vectors if vector is not None), None)

    def first_request_wide_error(self) -> HuggingFaceError | None:
        """The first failure that is not about an input itself (loading, rate limit, token...)."""
        return next((e for _, e in sorted(self.errors.items()) if not e.item_specific), None)

    def common_width(self) -> int | None:
        """The width most vectors share (the earliest input's on a tie); None without vectors."""
        widths = [len(vector) for vector in self.vectors if vector is not None]
        if not widths:
            return None
        counts = Counter(widths)
        return max(widths, key=lambda width: (counts[width], -widths.index(width)))

    def keep_width(self, width: int, others: str) -> None:
        """Fail every vector that is not `width` wide, with a reason naming both widths.

        Takes the width to keep and what holds it (`"this request's other vectors"`); vectors
        of one request or job must be comparable, so an odd one is an error, never stored.
        """
        for index, vector in enumerate(self.vectors):
            if vector is not None and len(vector) != width:
                self.vectors[index] = None
                # Item-specific: the other inputs keep their vectors; not retryable: HF said it.
                self.errors[index] = HuggingFaceError(
                    f"HF answered {len(vector)} dimensions where {others} have {width}",
                    status=502, code="hf_bad_response", item_specific=True,
                )


def hf_batches(texts: list[str], settings: Settings) -> list[list[int]]:
    """Takes texts and the settings; returns the positions of each HF request they go out in:
    texts of like length together, at most `hf_batch_size` texts and `hf_batch_chars` characters
    a request, shortest first.

    Like length: a model pads every text of a request to its longest, so a short text beside a long
    one costs the long one's compute; grouped by length, the same texts cost the endpoint far less
    (half, on the demo corpus with all-MiniLM-L6-v2; see docs/PERFORMANCE.md). Characters stand in
    for tokens: a request of long texts takes longer, and all of it times out at once, so long
    texts travel in smaller requests.
    """
    by_length = sorted(range(len(texts)), key=lambda position: len(texts[position]))
    groups = pack([len(texts[position]) for position in by_length],
                  max_count=settings.hf_batch_size, max_bytes=settings.hf_batch_chars)
    return [[by_length[place] for place in group] for group in groups]


def request_headers(token: str | None, target: Target) -> dict[str, str]:
    """Takes the token (or None) and the target; returns the HTTP headers of an HF request (bearer token, wait-for-
    model and use-cache switches).
    """
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if target.options.wait_for_model:
        headers["x-wait-for-model"] = "true"
    if not target.options.use_cache:
        # HF drops `use_cache: false` from the body on its newer routes; the header is honoured.
        headers["x-use-cache"] = "false"
    return headers


def request_body(texts: list[str], target: Target) -> bytes:
    """Takes the texts and the target; returns the JSON bytes of an HF feature-extraction request (`inputs`, `options`,
    parameters the caller set).
    """
    options = {
        "wait_for_model": target.options.wait_for_model,
        "use_gpu": target.options.use_gpu,
        "use_cache": target.options.use_cache,
    }
    # Parameters the caller set (normalize, truncate...) ride at the root; none are set for
    # /vectorize and the worker, whose bodies stay {"inputs", "options"}.
    body = {"inputs": texts, "options": options, **target.parameters.body_fields()}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


@dataclass
class _Call:
    """One `embed` call's inputs, its outcome being filled, and the HF requests it has started."""

    target: Target
    texts: list[str]
    token: str | None
    deadline: float
    outcome: EmbedOutcome
    requests: int = 0


def redact(message: str, secret: str | None) -> str:
    """Takes a message and a secret (or None); returns the message with every copy of the secret replaced by `***`."""
    return message.replace(secret, REDACTED) if secret else message


class HuggingFaceClient:
    """Owns one `httpx.AsyncClient`, reused for as long as the container stays warm."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._policy = RetryPolicy(
            max_attempts=settings.hf_max_attempts,
            base_seconds=settings.hf_backoff_base_seconds,
            cap_seconds=settings.hf_backoff_cap_seconds,
        )
        self._http: httpx.AsyncClient | None = None
        self._limiter = AimdLimiter(settings.hf_concurrency)

    @property
    def concurrency_limit(self) -> int:
        """How many HF requests this client lets out at once now (its AIMD limit)."""
        return self._limiter.limit

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            limit = self._settings.hf_concurrency
            self._http = httpx.AsyncClient(
                transport=self._transport,
                limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                follow_redirects=False,  # a redirect could carry the token to another host
                timeout=self._settings.hf_timeout_seconds,
            )
        return self._http

    async def aclose(self) -> None:
        """Closes the pooled HTTP client, if one was opened; a later call opens a new one."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def embed(
        self, target: Target, texts: list[str], token: str | None, deadline: float
    ) -> EmbedOutcome:
        """Vectorize `texts` before `deadline` (a `time.monotonic()` value).

        Takes the target, the texts, the token (or None) and the deadline. Inputs go out in
        requests of like-length texts bounded by `hf_batch_size` texts and `hf_batch_chars`
        characters (`hf_batches`).
        Returns one entry per input, in input order: its vector, or its error. Every vector has
        the same width; inputs HF answered with another width than most get an error instead.
        The outcome's usage counts the texts (all sent) and the requests made (bisection halves
        included, retries of one request not).
        """
        call = _Call(target, texts, token, deadline, EmbedOutcome(vectors=[None] * len(texts)))
        await asyncio.gather(*(self._embed_batch(call, batch) for batch in hf_batches(texts, self._settings)))
        outcome = call.outcome
        outcome.usage = HfUsage(texts=len(texts), sent=len(texts), requests=call.requests)
        width = outcome.common_width()
        if width is not None:
            # Batches are separate HF answers: a replica serving another model could answer one.
            outcome.keep_width(width, "this request's other vectors")
        return outcome

    async def _embed_batch(self, call: _Call, indexes: list[int]) -> None:
        call.requests += 1
        try:
            vectors = await self._post_with_retries(
                call.target, [call.texts[i] for i in indexes], call.token, call.deadline
            )
        except HuggingFaceError as error:
            if error.item_specific and len(indexes) > 1:
                middle = len(indexes) // 2
                await asyncio.gather(
                    self._embed_batch(call, indexes[:middle]), self._embed_batch(call, indexes[middle:])
                )
                return
            for index in indexes:
                call.outcome.errors[index] = error
            return
        for index, vector in zip(indexes, vectors, strict=True):
            call.outcome.vectors[index] = vector

    async def _post_with_retries(
        self, target: Target, texts: list[str], token: str | None, deadline: float
    ) -> list[list[float]]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._post_once(target, texts, token, deadline)
            except HuggingFaceError as error:
                wait = self._policy.next_wait(attempt, error, deadline - time.monotonic(), self._rng)
                if wait is None:
                    raise
                await self._sleep(wait)

    async def _post_once(
        self, target: Target, texts: list[str], token: str | None, deadline: float
    ) -> list[list[float]]:
        # One slot per attempt, not per request: a request waiting out its backoff holds none.
        ticket = await self._limiter.acquire()
        status: int | None = None  # no answer (timeout, connection error) neither cuts nor grows the limit
        try:
            response = await self._exchange(target, texts, token, deadline)
            failure = None if response.status_code == 200 else self._failure(response, token)
            # The status as classified: 429 and 503 are HF saying it has too much to do.
            status = 200 if failure is None else failure.status
        finally:
            self._limiter.release(ticket, status)
        if failure is not None:
            raise failure
        # Let the request that took this slot go out before this answer is parsed (a few ms of CPU
        # for a batch of 32): when a wave of answers lands at once, each slot's next request then
        # leaves at once, not after the parsing of every answer ahead of it.
        await asyncio.sleep(0)
        return parse_embeddings(decode_json(response.content), expected=len(texts))

    async def _exchange(
        self, target: Target, texts: list[str], token: str | None, deadline: float
    ) -> httpx.Response:
        """One HTTP round trip; raises HuggingFaceError only when no answer came back at all."""
        seconds_left = deadline - time.monotonic()
        if seconds_left <= 0.1:
            raise HuggingFaceError(
                "Hugging Face did not answer before the deadline", status=504, code="hf_timeout"
            )
        timeout = min(self._settings.hf_timeout_seconds, seconds_left)
        import httpx  # already loaded by `_client`; named here for the exceptions caught below

        try:
            response = await self._client().post(
                target.url,
                content=request_body(texts, target),
                headers=request_headers(token, target),
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise HuggingFaceError(
                f"Hugging Face timed out after {timeout:.1f} s ({type(exc).__name__})",
                status=504, code="hf_timeout", retryable=True,
            ) from None
        except httpx.TransportError as exc:
            raise HuggingFaceError(
                f"Hugging Face could not be reached ({type(exc).__name__})",
                status=502, code="hf_unreachable", retryable=True,
            ) from None
        except httpx.InvalidURL:
            # Config validation refuses such URLs first; should one slip through, it is the config's fault.
            raise HuggingFaceError(
                "the endpoint URL is not one the HTTP client can call", status=400, code="invalid_config"
            ) from None
        return response

    @staticmethod
    def _failure(response: httpx.Response, token: str | None) -> HuggingFaceError:
        """The error an answer other than 200 stands for, with the token redacted from HF's words."""
        body = response.content
        if token:
            # Redact before HF's words are cut to length, so that no piece of the token survives the cut.
            body = body.replace(token.encode("utf-8"), REDACTED.encode("utf-8"))
        error = classify_failure(response.status_code, body, response.headers.get("retry-after"))
        error.message = redact(error.message, token)
        error.args = (error.message,)
        return error
