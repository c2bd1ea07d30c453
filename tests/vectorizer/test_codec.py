"""Stored vectors: little-endian float32 bytes."""

from __future__ import annotations

import struct

import pytest

from vectorizer.codec import as_float32, decode_vector, encode_vector


def test_encode_is_little_endian_float32_exactly() -> None:
    assert encode_vector([1.0, -2.0, 0.5]) == b"\x00\x00\x80\x3f" b"\x00\x00\x00\xc0" b"\x00\x00\x00\x3f"
    assert encode_vector([0.1]) == bytes.fromhex("cdcccc3d")
    assert encode_vector([-0.0, 0.0]) == bytes.fromhex("00000080" "00000000")


def test_four_bytes_per_value() -> None:
    assert len(encode_vector([0.25] * 384)) == 1536
    assert encode_vector([]) == b""


def test_decode_is_the_inverse() -> None:
    assert decode_vector(bytes.fromhex("0000803f" "000000c0" "0000003f")) == [1.0, -2.0, 0.5]
    assert decode_vector(b"") == []


def test_round_trip_of_values_float32_holds_exactly() -> None:
    vector = [(byte - 128) / 128 for byte in range(256)] + [2.0**127, -(2.0**-126), 1024.125]
    assert decode_vector(encode_vector(vector)) == vector


def test_round_trip_rounds_to_float32() -> None:
    assert decode_vector(encode_vector([0.1, 1 / 3])) == [0.10000000149011612, 0.3333333432674408]
    assert as_float32([0.1, 1 / 3, 2.5]) == [0.10000000149011612, 0.3333333432674408, 2.5]


def test_decode_is_not_big_endian() -> None:
    # The same bytes read big-endian would be a different number: guard against a swapped format.
    data = encode_vector([1.0])
    assert struct.unpack(">f", data)[0] != 1.0
    assert decode_vector(data) == [1.0]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_decode_refuses_a_partial_value(size: int) -> None:
    with pytest.raises(ValueError, match=f"^{size} bytes is not a whole number of float32 values$"):
        decode_vector(b"\x00" * size)


def test_decode_accepts_memoryview_and_bytearray() -> None:
    # boto3 hands binary attributes back as bytes, boto3's Binary (its .value) or a buffer.
    data = encode_vector([1.5, -3.25])
    assert decode_vector(bytearray(data)) == [1.5, -3.25]
    assert decode_vector(memoryview(data)) == [1.5, -3.25]
    # A view of part of a larger buffer: its length is the view's, not the buffer's.
    assert decode_vector(memoryview(b"\xff" + data + b"\xff")[1:-1]) == [1.5, -3.25]


def test_decode_refuses_a_partial_value_in_a_memoryview() -> None:
    with pytest.raises(ValueError, match=r"^6 bytes is not a whole number of float32 values$"):
        decode_vector(memoryview(b"\x00" * 6))


def test_decode_reads_a_memoryview_of_other_items_by_its_bytes() -> None:
    # len() of a view over 4-byte items counts items, not bytes: the check must count bytes.
    floats = memoryview(encode_vector([1.5, -3.25, 0.5])).cast("f")
    assert decode_vector(floats) == [1.5, -3.25, 0.5]
