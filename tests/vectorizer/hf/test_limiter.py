"""The AIMD limit on HF requests in flight: alone, then owned by a client shared by several calls."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
import pytest

from tests.vectorizer.hf.test_client import CeilingRng, settings, target, texts, vector_for
from vectorizer.hf.client import HuggingFaceClient
from vectorizer.hf.limiter import AimdLimiter

# ------------------------------------------------------------------ the limiter alone


def test_the_limit_starts_at_the_ceiling_and_refuses_a_ceiling_below_one() -> None:
    assert AimdLimiter(8).limit == 8
    with pytest.raises(ValueError, match="at least 1"):
        AimdLimiter(0)


def test_a_burst_of_429s_from_requests_already_in_flight_halves_the_limit_once() -> None:
    async def go() -> tuple[int, int]:
        limiter = AimdLimiter(8)
        tickets = [await limiter.acquire() for _ in range(8)]
        for ticket in tickets:
            limiter.release(ticket, 429)
        after_burst = limiter.limit
        # A request sent after the cut that is refused again is a new signal: it halves again.
        limiter.release(await limiter.acquire(), 503)
        return after_burst, limiter.limit

    assert asyncio.run(go()) == (4, 2)


def test_the_limit_never_falls_below_one() -> None:
    async def go() -> list[int]:
        limiter = AimdLimiter(4)
        seen = []
        for _ in range(5):
            limiter.release(await limiter.acquire(), 429)
            seen.append(limiter.limit)
        return seen

    assert asyncio.run(go()) == [2, 1, 1, 1, 1]


def test_successes_add_about_one_slot_per_round_up_to_the_ceiling_and_other_failures_change_nothing() -> None:
    async def go() -> list[int]:
        limiter = AimdLimiter(4)
        limiter.release(await limiter.acquire(), 429)
        limiter.release(await limiter.acquire(), 429)
        seen = [limiter.limit]  # 1
        for status in (500, None, 400):
            limiter.release(await limiter.acquire(), status)
        seen.append(limiter.limit)  # unchanged by a 500, no answer, a refused input
        for _ in range(12):
            limiter.release(await limiter.acquire(), 200)
            seen.append(limiter.limit)
        return seen

    # Each success adds 1/limit: 1 -> 2 -> 2.5 -> 2.9 -> 3.24 -> 3.55 -> 3.84 -> 4 (the ceiling), so
    # a whole slot comes back for about one round of requests at the current limit.
    assert asyncio.run(go()) == [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4]


def test_waiters_get_slots_in_arrival_order_as_slots_free() -> None:
    async def go() -> list[str]:
        limiter = AimdLimiter(1)
        order: list[str] = []
        held = await limiter.acquire()

        async def wait(name: str) -> None:
            ticket = await limiter.acquire()
            order.append(name)
            limiter.release(ticket, 200)

        waiting = [asyncio.create_task(wait(name)) for name in ("first", "second", "third")]
        await asyncio.sleep(0)
        assert (order, limiter.in_flight) == ([], 1)
        limiter.release(held, 200)
        await asyncio.gather(*waiting)
        return order

    assert asyncio.run(go()) == ["first", "second", "third"]


def test_a_waiter_cancelled_while_waiting_takes_no_slot() -> None:
    async def go() -> tuple[int, int]:
        limiter = AimdLimiter(1)
        held = await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        limiter.release(held, 200)
        return limiter.in_flight, await limiter.acquire()

    assert asyncio.run(go()) == (0, 0)


# ------------------------------------------------------------------ owned by the client


@dataclass
class CrowdedHF:
    """An HF that can take `capacity` requests at once: one that arrives to find more in flight is a 429.

    Records how many requests were in flight as each arrived (itself included), in order.
    """

    capacity: int
    in_flight: int = 0
    arrivals: list[int] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        self.in_flight += 1
        self.arrivals.append(self.in_flight)
        crowded = self.in_flight > self.capacity
        try:
            for _ in range(5):  # stay in flight a few loop turns, so requests overlap
                await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        self.statuses.append(429 if crowded else 200)
        if crowded:
            return httpx.Response(429, json={"error": "Rate limit reached. Please slow down."})
        return httpx.Response(200, json=[vector_for(t) for t in inputs])


def client_for(fake: CrowdedHF, **env: str) -> HuggingFaceClient:
    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    return HuggingFaceClient(
        settings(**env), transport=httpx.MockTransport(fake), sleep=no_wait, rng=CeilingRng()
    )


def test_429s_cut_the_requests_in_flight_and_successes_bring_them_back() -> None:
    fake = CrowdedHF(capacity=3)
    client = client_for(fake, HF_BATCH_SIZE="1", HF_CONCURRENCY="8", HF_MAX_ATTEMPTS="20")
    crowded, roomy = texts(60), texts(120)[60:]

    async def go() -> tuple[list[int], list[int], int, int]:
        try:
            first = await client.embed(target(), crowded, None, time.monotonic() + 600)
            assert first.errors == {}
            assert first.vectors == [vector_for(t) for t in crowded]
            cut_to, arrivals_while_crowded = client.concurrency_limit, list(fake.arrivals)
            fake.capacity, fake.arrivals = 100, []  # HF has room again
            second = await client.embed(target(), roomy, None, time.monotonic() + 600)
            assert second.vectors == [vector_for(t) for t in roomy]
            return arrivals_while_crowded, fake.arrivals, cut_to, client.concurrency_limit
        finally:
            await client.aclose()

    crowded_arrivals, roomy_arrivals, cut_to, recovered = asyncio.run(go())
    assert max(crowded_arrivals[:8]) == 8  # the first round goes out at the full budget
    assert fake.statuses.count(429) >= 5  # the first round's five requests over capacity
    # Once cut, the client stays near what HF can take: never back at 8 while HF is crowded.
    assert max(crowded_arrivals[20:]) <= 4
    assert cut_to <= 4
    # With HF roomy again, successes grow the limit back to the ceiling and it is used.
    assert recovered == 8
    assert max(roomy_arrivals) == 8


def test_two_concurrent_embed_calls_share_one_budget_of_hf_concurrency() -> None:
    fake = CrowdedHF(capacity=100)
    client = client_for(fake, HF_BATCH_SIZE="1", HF_CONCURRENCY="3")
    first, second = texts(24)[:12], texts(24)[12:]

    async def go() -> list[list[list[float] | None]]:
        try:
            outcomes = await asyncio.gather(
                client.embed(target(), first, None, time.monotonic() + 60),
                client.embed(target(), second, None, time.monotonic() + 60),
            )
            return [outcome.vectors for outcome in outcomes]
        finally:
            await client.aclose()

    vectors = asyncio.run(go())
    assert vectors == [[vector_for(t) for t in first], [vector_for(t) for t in second]]
    assert len(fake.arrivals) == 24
    assert max(fake.arrivals) == 3
