"""Time as the stores record it: ISO-8601 UTC stamps and DynamoDB TTL epochs."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expiry(days: int) -> int:
    """The TTL attribute value that lets DynamoDB delete an item `days` from now."""
    return int(time.time()) + days * 86_400
