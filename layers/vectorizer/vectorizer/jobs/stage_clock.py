"""Where a chunk's time goes: waiting on Hugging Face, waiting on DynamoDB, the worker's own CPU.

A `StageClock` adds up the wall time spent inside each named stage and the process's CPU time
since it started. Its clocks are injected, so it is pure and tests drive it with fake ones.
`timed` puts a stage around every method call of an object (a store, the HF client), so a stage
is measured where its calls are made, without a timer beside each call site.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

T = TypeVar("T")
Clock = Callable[[], float]

HF = "hf"
DYNAMO = "dynamo"


@dataclass(frozen=True)
class StageTimes:
    """Seconds one chunk spent: on HF, on DynamoDB, on the worker's CPU, and in all (wall)."""

    hf_seconds: float = 0.0
    dynamo_seconds: float = 0.0
    cpu_seconds: float = 0.0
    total_seconds: float = 0.0


@dataclass
class StageClock:
    """Wall seconds per stage, plus CPU and wall seconds since the clock was made.

    `wall` is a monotonic clock (`time.perf_counter`), `cpu` the process's CPU clock
    (`time.process_time`); both are read when the clock is made.
    """

    wall: Clock = time.perf_counter
    cpu: Clock = time.process_time
    seconds: dict[str, float] = field(default_factory=dict)
    _wall_start: float = field(init=False)
    _cpu_start: float = field(init=False)

    def __post_init__(self) -> None:
        self._wall_start = self.wall()
        self._cpu_start = self.cpu()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Takes a stage's name; adds the wall time spent inside the `with` block to it, even if it raises."""
        start = self.wall()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + (self.wall() - start)

    def times(self) -> StageTimes:
        """Returns the HF and DynamoDB stages' seconds so far, and the CPU and wall seconds since the start."""
        return StageTimes(
            hf_seconds=self.seconds.get(HF, 0.0),
            dynamo_seconds=self.seconds.get(DYNAMO, 0.0),
            cpu_seconds=self.cpu() - self._cpu_start,
            total_seconds=self.wall() - self._wall_start,
        )


class _Timed:
    """Stands in for `inner`: each method call, awaited ones to their end, counts under one stage."""

    def __init__(self, inner: Any, clock: StageClock, stage: str) -> None:
        self._inner = inner
        self._clock = clock
        self._stage = stage

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute
        clock, stage = self._clock, self._stage
        if inspect.iscoroutinefunction(attribute):

            @functools.wraps(attribute)
            async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
                with clock.stage(stage):
                    return await attribute(*args, **kwargs)

            return timed_coroutine

        @functools.wraps(attribute)
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            with clock.stage(stage):
                return attribute(*args, **kwargs)

        return timed_call


def timed(inner: T, clock: StageClock, stage: str) -> T:
    """Takes an object, a clock and a stage's name; returns a stand-in for the object whose every
    method call (an async one until it is awaited to its end) adds its wall time to that stage."""
    return cast(T, _Timed(inner, clock, stage))
