"""The retry policy: exponential backoff with full jitter, HF's own waits, and the deadline."""

from __future__ import annotations

import random

import pytest

from vectorizer.errors import HuggingFaceError
from vectorizer.hf.retry import MIN_REQUEST_SECONDS, RetryPolicy
from vectorizer.settings import Settings


class CeilingRng(random.Random):
    """Always draws the top of the range, and records every range asked for."""

    def __init__(self, fraction: float = 1.0) -> None:
        super().__init__(0)
        self.fraction = fraction
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return a + (b - a) * self.fraction


def retryable(retry_after: float | None = None) -> HuggingFaceError:
    return HuggingFaceError("passing", status=503, code="hf_model_loading", retryable=True, retry_after=retry_after)


POLICY = RetryPolicy(max_attempts=6, base_seconds=0.5, cap_seconds=20.0)


def test_defaults_match_settings_defaults() -> None:
    defaults = Settings()
    assert RetryPolicy() == RetryPolicy(
        max_attempts=defaults.hf_max_attempts, base_seconds=defaults.hf_backoff_base_seconds,
        cap_seconds=defaults.hf_backoff_cap_seconds,
    ) == RetryPolicy(max_attempts=6, base_seconds=0.5, cap_seconds=20.0)
    assert MIN_REQUEST_SECONDS == 1.0


def test_backoff_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    rng = CeilingRng()
    waits = [POLICY.backoff(attempt, rng) for attempt in range(1, 10)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0, 20.0]
    # Full jitter: every draw is from zero up to the ceiling.
    assert rng.ranges == [(0.0, w) for w in waits]


def test_backoff_is_full_jitter_from_the_injected_rng() -> None:
    waits = [POLICY.backoff(attempt, random.Random(1234)) for attempt in (1, 2, 3, 4, 5, 6, 7)]
    reference = [random.Random(1234).uniform(0.0, ceiling) for ceiling in (0.5, 1, 2, 4, 8, 16, 20)]
    assert waits == reference
    assert all(0.0 <= wait <= ceiling for wait, ceiling in zip(waits, (0.5, 1, 2, 4, 8, 16, 20), strict=True))


def test_backoff_spreads_workers_out() -> None:
    rng = random.Random(99)
    draws = [POLICY.backoff(5, rng) for _ in range(200)]
    assert min(draws) >= 0.0
    assert max(draws) <= 8.0
    # Not in step: the draws cover the range rather than sitting on one value.
    assert min(draws) < 1.0
    assert max(draws) > 7.0
    assert len(set(draws)) == 200


def test_next_wait_uses_backoff_without_a_server_hint() -> None:
    rng = CeilingRng(0.5)
    assert POLICY.next_wait(1, retryable(), seconds_left=100.0, rng=rng) == 0.25
    assert POLICY.next_wait(3, retryable(), seconds_left=100.0, rng=rng) == 1.0
    assert rng.ranges == [(0.0, 0.5), (0.0, 2.0)]


def test_next_wait_honours_retry_after_instead_of_backoff() -> None:
    rng = CeilingRng()
    assert POLICY.next_wait(1, retryable(retry_after=7.0), seconds_left=100.0, rng=rng) == 7.0
    assert POLICY.next_wait(4, retryable(retry_after=0.0), seconds_left=100.0, rng=rng) == 0.0
    assert rng.ranges == []  # no jitter drawn when HF said how long


def test_next_wait_caps_a_long_server_hint() -> None:
    assert POLICY.next_wait(1, retryable(retry_after=300.0), seconds_left=100.0, rng=CeilingRng()) == 20.0


def test_non_retryable_errors_are_not_retried() -> None:
    for error in (
        HuggingFaceError("token", status=401, code="hf_token_rejected"),
        HuggingFaceError("input", status=400, code="hf_input_rejected", item_specific=True, retry_after=1.0),
    ):
        assert POLICY.next_wait(1, error, seconds_left=100.0, rng=CeilingRng()) is None


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=0.5, cap_seconds=20.0)
    rng = CeilingRng()
    assert policy.next_wait(1, retryable(), 100.0, rng) == 0.5
    assert policy.next_wait(2, retryable(), 100.0, rng) == 1.0
    assert policy.next_wait(3, retryable(), 100.0, rng) is None
    assert policy.next_wait(4, retryable(), 100.0, rng) is None


def test_single_attempt_policy_never_retries() -> None:
    assert RetryPolicy(max_attempts=1).next_wait(1, retryable(0.0), 100.0, CeilingRng()) is None


@pytest.mark.parametrize(
    ("retry_after", "seconds_left", "expected"),
    [
        (5.0, 6.0, 5.0),     # exactly room for the wait and a request
        (5.0, 5.99, None),   # the retried request would not have its second
        (5.0, 5.0, None),
        (30.0, 20.5, None),  # capped to 20 s, still past the deadline
        (30.0, 21.0, 20.0),
        (0.0, 0.5, None),    # no time for even an immediate retry
    ],
)
def test_never_plans_a_retry_past_the_deadline(retry_after: float, seconds_left: float, expected: float | None) -> None:
    assert POLICY.next_wait(1, retryable(retry_after), seconds_left, CeilingRng()) == expected


def test_backoff_wait_is_checked_against_the_deadline_too() -> None:
    # Attempt 5: ceiling 8 s, the rng draws the top; 8 + 1 > 8.5.
    assert POLICY.next_wait(5, retryable(), 8.5, CeilingRng()) is None
    assert POLICY.next_wait(5, retryable(), 9.0, CeilingRng()) == 8.0
    # A small draw fits where a large one would not.
    assert POLICY.next_wait(5, retryable(), 8.5, CeilingRng(0.25)) == 2.0
