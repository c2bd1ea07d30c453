"""Where a chunk's time goes: waiting on Hugging Face, waiting on DynamoDB, the worker's own CPU.

A `StageClock` adds up the wall time spent inside each named stage and the process's CPU time
since it started. A chunk's HF batches are awaited side by side and its vector writes run on
threads while other batches are still at HF, so visits of one stage overlap: a stage counts the
wall time during which at least one of its calls was under way (never more than the wall time),
while the HF and DynamoDB waits overlap each other, so the two stages can sum to more than the
wall time. Its clocks are injected, so it is pure and tests drive it with fake ones.
`timed` puts a stage around every method call of an object (a store, the HF client), so a stage
is measured where its calls are made, without a timer beside each call site.
"""

from __future__ import annotations

import functools
import inspect
import threading
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
    # Per stage: how many visits are under way, and since when at least one has been.
    _open: dict[str, int] = field(init=False, default_factory=dict)
    _since: dict[str, float] = field(init=False, default_factory=dict)
    # Stages are entered from the event loop and from the write threads at once.
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._wall_start = self.wall()
        self._cpu_start = self.cpu()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Takes a stage's name; adds the wall time spent inside the `with` block to it, even if it raises.

        Overlapping visits of one stage count once: only the time during which at least one of
        them is under way is added.
        """
        with self._lock:
            if not self._open.get(name):
                self._since[name] = self.wall()
            self._open[name] = self._open.get(name, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._open[name] -= 1
                if not self._open[name]:
                    self.seconds[name] = self.seconds.get(name, 0.0) + (self.wall() - self._since[name])

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
