"""Vectors as stored: little-endian float32 bytes, a quarter of the size of a list of numbers."""

from __future__ import annotations

import struct


def encode_vector(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def decode_vector(data: bytes) -> list[float]:
    if len(data) % 4:
        raise ValueError(f"{len(data)} bytes is not a whole number of float32 values")
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def as_float32(vector: list[float]) -> list[float]:
    """The values a vector has once stored: what a reader of the store will get back."""
    return decode_vector(encode_vector(vector))
