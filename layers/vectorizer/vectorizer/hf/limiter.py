"""How many Hugging Face requests one container may have in flight: an AIMD limit.

Every `embed` call of a client (and, in the worker, every record of an invocation) draws from
one budget. It starts at `hf_concurrency`. An answer saying HF is overloaded (429 rate limited,
503 loading or unavailable) halves the limit, never below 1; a success adds 1/limit, so about one
more slot per round of requests, up to `hf_concurrency` again. A burst of 429s from requests that
were all in flight before the limit was cut is one signal, not many: a request only cuts the
limit when no cut happened since it was sent (one cut per round trip). Retries with backoff stay
the client's business; this only decides when a request may go out.
"""

from __future__ import annotations

import asyncio
from collections import deque

# HF's answers that mean "fewer requests, please": rate limited, model loading or overloaded.
OVERLOAD_STATUSES = frozenset({429, 503})


class AimdLimiter:
    """An asyncio concurrency limit that halves on overload and grows back by successes.

    Not thread-safe: use it from one event loop (the container's, see `vectorizer.aio`).
    """

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError("the concurrency ceiling must be at least 1")
        self.ceiling = ceiling
        self._limit = float(ceiling)
        self._in_flight = 0
        self._cuts = 0  # how many times the limit was cut: a request remembers the count it saw
        self._waiters: deque[asyncio.Future[int]] = deque()

    @property
    def limit(self) -> int:
        """The number of requests allowed in flight now (whole slots, at least 1)."""
        return max(1, int(self._limit))

    @property
    def in_flight(self) -> int:
        """The number of requests holding a slot now."""
        return self._in_flight

    async def acquire(self) -> int:
        """Wait for a free slot and take it; returns a ticket to hand back to `release`.

        Waiters are served first come, first served. A waiter cancelled after being granted its
        slot gives the slot back.
        """
        if not self._waiters and self._in_flight < self.limit:
            self._in_flight += 1
            return self._cuts
        granted: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        try:
            return await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._in_flight -= 1
                self._wake()
            else:
                self._waiters.remove(granted)
            raise

    def release(self, ticket: int, status: int | None) -> None:
        """Give back the slot `acquire` returned `ticket` for, with the answer's HTTP status.

        Takes the ticket and the status (None when no answer came: timeout, connection error).
        429/503 halve the limit once per round trip, 200 grows it; anything else leaves it.
        """
        self._in_flight -= 1
        if status in OVERLOAD_STATUSES:
            if ticket == self._cuts:
                self._limit = max(1.0, self._limit / 2)
                self._cuts += 1
        elif status == 200:
            self._limit = min(float(self.ceiling), self._limit + 1 / self._limit)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self.limit:
            waiter = self._waiters.popleft()
            if waiter.done():  # cancelled while waiting
                continue
            self._in_flight += 1
            waiter.set_result(self._cuts)
