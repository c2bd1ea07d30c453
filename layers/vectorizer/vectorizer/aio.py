"""One event loop per container, on a thread of its own, shared by every thread that runs async work.

`asyncio.run` would open and close a loop per call, and an `httpx.AsyncClient` cannot outlive
the loop its connections were made on. The handlers stay synchronous (Powertools' batch and
idempotency utilities are) and run their async work here. The worker works the records of one
batch on several threads at once; all of them submit to this one loop, so they share one pooled
HTTP client and one Hugging Face concurrency budget instead of each opening its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    """The container's loop, started on a daemon thread on first use (and again should it have died)."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            # Daemon: a warm container is frozen, never joined; a test process must still exit.
            thread = threading.Thread(target=serve, name="vectorizer-event-loop", daemon=True)
            thread.start()
            started.wait()
            _loop, _thread = loop, thread
        return _loop


def on_loop_thread() -> bool:
    """True when called from the container's event loop thread itself."""
    return _thread is not None and threading.current_thread() is _thread


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on the container's one event loop; returns its result.

    Callable from any number of threads at once: each blocks until its own coroutine is done,
    and the coroutine's exception, if any, is raised in the caller. Raises RuntimeError when
    called from the loop's own thread (from async code), where waiting would deadlock.
    """
    if on_loop_thread():
        coroutine.close()  # never awaited: close it so Python does not warn about it
        raise RuntimeError("aio.run was called from the event loop's own thread; await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coroutine, _background_loop()).result()
