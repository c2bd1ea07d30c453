"""Time as the stores record it: ISO-8601 UTC stamps and DynamoDB TTL epochs."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_iso() -> str:
    """The current UTC time as ISO-8601 with milliseconds and a `Z`: `2026-11-30T17:53:09.123Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expiry(days: int) -> int:
    """Takes a number of days; returns the TTL value (epoch seconds) `days` from now."""
    return int(time.time()) + days * 86_400
