"""Packing things in order into groups bounded by a count and a byte size.

Chunk messages (items per message), SendMessageBatch calls (messages per call) and, in time, HF
requests (texts per request) all need the same greedy walk, so it is written once here.
"""

from __future__ import annotations

from collections.abc import Sequence


def pack(sizes: Sequence[int], *, max_count: int, max_bytes: int) -> list[list[int]]:
    """Group positions `0..len(sizes)-1`, in order, into runs of at most `max_count` positions
    whose sizes add up to at most `max_bytes`.

    Takes each thing's size in bytes; returns the groups as lists of positions. A thing larger than
    `max_bytes` on its own still gets a group of its own (callers that must refuse it check first).
    """
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for position, size in enumerate(sizes):
        if current and (len(current) >= max_count or used + size > max_bytes):
            groups.append(current)
            current, used = [], 0
        current.append(position)
        used += size
    if current:
        groups.append(current)
    return groups
