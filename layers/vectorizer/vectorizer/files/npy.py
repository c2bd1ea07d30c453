"""A float32 matrix as a NumPy .npy file (format 1.0), written by hand: numpy is not in the layer."""

from __future__ import annotations

import struct

from vectorizer.codec import encode_vector

MAGIC = b"\x93NUMPY\x01\x00"
ALIGN = 64  # the format pads the header so the data starts on a 64-byte boundary


def npy_header(rows: int, columns: int) -> bytes:
    """The magic, version, header length and header dict of a C-order little-endian float32 matrix."""
    described = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}"
    unpadded = len(MAGIC) + 2 + len(described) + 1  # +1 for the closing newline
    padding = -unpadded % ALIGN
    header = (described + " " * padding + "\n").encode("latin-1")
    return MAGIC + struct.pack("<H", len(header)) + header


def npy_matrix(vectors: list[list[float]]) -> bytes:
    """Takes rows of equal length; returns the .npy bytes of that float32 matrix (`np.load` reads it).

    Raises ValueError for rows of different lengths, which no matrix holds.
    """
    columns = len(vectors[0]) if vectors else 0
    if any(len(row) != columns for row in vectors):
        raise ValueError(f"rows of different lengths cannot make a matrix (first has {columns})")
    return npy_header(len(vectors), columns) + b"".join(encode_vector(row) for row in vectors)
