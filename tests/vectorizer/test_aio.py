"""`aio.run`: one background event loop that every thread of the container submits to."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from vectorizer import aio


async def loop_of_this_coroutine() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_run_returns_the_coroutines_result_on_one_loop_that_outlives_each_call() -> None:
    first = aio.run(loop_of_this_coroutine())
    second = aio.run(loop_of_this_coroutine())
    assert first is second
    assert not first.is_closed()


def test_run_raises_the_coroutines_own_exception_in_the_caller() -> None:
    async def fails() -> None:
        raise ValueError("the coroutine's own words")

    with pytest.raises(ValueError, match=r"^the coroutine's own words$"):
        aio.run(fails())


def test_calls_from_several_threads_at_once_share_one_loop_and_overlap() -> None:
    threads = 4
    arrived = 0
    all_here = asyncio.Event()  # made and awaited on the shared loop only
    loops: list[asyncio.AbstractEventLoop] = []

    async def meet(name: str) -> str:
        nonlocal arrived
        loops.append(asyncio.get_running_loop())
        arrived += 1
        if arrived == threads:
            all_here.set()
        # Each coroutine waits for all the others: this only ends if all four run side by side.
        await asyncio.wait_for(all_here.wait(), timeout=10)
        return f"{name} on {threading.current_thread().name}"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        answers = list(pool.map(lambda n: aio.run(meet(f"record-{n}")), range(threads)))

    assert arrived == 4
    assert len(set(map(id, loops))) == 1
    assert answers == [f"record-{n} on vectorizer-event-loop" for n in range(threads)]


def test_run_from_the_loop_thread_itself_refuses_instead_of_deadlocking() -> None:
    async def nested() -> str:
        async def inner() -> str:
            return "never"

        with pytest.raises(RuntimeError, match="event loop's own thread"):
            aio.run(inner())
        return "refused"

    assert aio.run(nested()) == "refused"
