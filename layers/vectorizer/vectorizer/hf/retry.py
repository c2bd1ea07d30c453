"""When to try a Hugging Face request again, and how long to wait first.

Exponential backoff with full jitter (random in [0, min(cap, base * 2**attempt)]), so that many
workers hit by the same 429 do not come back in step. A wait HF asks for itself (`Retry-After`,
a loading model's `estimated_time`) is honoured instead, up to the cap. No retry is planned that
would end after the deadline: a Lambda must answer before it is killed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vectorizer.errors import HuggingFaceError

# Time left after the wait for the retried request itself to have a chance.
MIN_REQUEST_SECONDS = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets in all, and the backoff's base and cap in seconds."""

    max_attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 20.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter wait in seconds after failed attempt number `attempt` (1-based).

        Drawn from `rng`, uniform in [0, min(cap_seconds, base_seconds * 2**(attempt - 1))].
        """
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)

    def next_wait(
        self, attempt: int, error: HuggingFaceError, seconds_left: float, rng: random.Random
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None when we must give up now.

        Takes the failed attempt's number, its error, the seconds left before the deadline and a
        random source. None when the error is not retryable, the attempts are spent, or the wait
        plus MIN_REQUEST_SECONDS would pass the deadline; HF's own `retry_after` wins, capped.
        """
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if error.retry_after is not None:
            wait = min(error.retry_after, self.cap_seconds)
        else:
            wait = self.backoff(attempt, rng)
        if wait + MIN_REQUEST_SECONDS > seconds_left:
            return None
        return wait
