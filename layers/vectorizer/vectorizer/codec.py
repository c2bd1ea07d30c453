"""Vectors as stored: little-endian float32 bytes, a quarter of the size of a list of numbers."""

from __future__ import annotations

import struct


def encode_vector(vector: list[float]) -> bytes:
    """Takes a vector's values; returns them as little-endian float32 bytes, 4 per value."""
    return struct.pack(f"<{len(vector)}f", *vector)


def decode_vector(data: bytes | bytearray | memoryview) -> list[float]:
    """Takes stored bytes (or any buffer of them); returns the float32 values they hold.

    Raises ValueError when the byte count is not a multiple of 4.
    """
    # Count bytes, not items: len() of a memoryview over wider items (e.g. cast("f")) counts items.
    raw = memoryview(data).cast("B")
    if raw.nbytes % 4:
        raise ValueError(f"{raw.nbytes} bytes is not a whole number of float32 values")
    return list(struct.unpack(f"<{raw.nbytes // 4}f", raw))


def as_float32(vector: list[float]) -> list[float]:
    """The values a vector has once stored: what a reader of the store will get back."""
    return decode_vector(encode_vector(vector))
