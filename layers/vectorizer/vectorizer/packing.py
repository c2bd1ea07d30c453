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


def pack_runs(
    sizes: Sequence[int], runs: Sequence[object], *, max_count: int, max_bytes: int, max_runs: int | None = None,
) -> list[list[int]]:
    """`pack`, but a run of consecutive positions with equal `runs` keys starts a new group rather
    than straddle two, when it fits in one; with `max_runs`, a group also holds at most that many runs.

    Takes each thing's size, its run key and the bounds; returns the groups as lists of positions,
    in order. A run too large for any group is cut where `pack` would cut it.
    """
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    held_runs = 0
    start = 0
    while start < len(sizes):
        end = start
        while end < len(sizes) and runs[end] == runs[start]:
            end += 1
        run_bytes = sum(sizes[start:end])
        fits_alone = end - start <= max_count and run_bytes <= max_bytes
        full_of_runs = max_runs is not None and held_runs >= max_runs
        too_big = len(current) + end - start > max_count or used + run_bytes > max_bytes
        if current and (full_of_runs or (fits_alone and too_big)):
            groups.append(current)
            current, used, held_runs = [], 0, 0
        held_runs += 1
        for position in range(start, end):
            if current and (len(current) >= max_count or used + sizes[position] > max_bytes):
                groups.append(current)
                current, used, held_runs = [], 0, 1
            current.append(position)
            used += sizes[position]
        start = end
    if current:
        groups.append(current)
    return groups
