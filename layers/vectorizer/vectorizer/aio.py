"""One event loop per container, so the pooled HTTP client survives between invocations.

`asyncio.run` would open and close a loop per call, and an `httpx.AsyncClient` cannot outlive
the loop its connections were made on. The handlers stay synchronous (Powertools' batch and
idempotency utilities are) and run their async work here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_runner = asyncio.Runner()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on the container's one event loop; returns its result."""
    return _runner.run(coroutine)
