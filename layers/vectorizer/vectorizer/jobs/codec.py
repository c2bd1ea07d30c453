"""The vector codec, kept at the top of the package so every room can share it; re-exported here."""

from vectorizer.codec import as_float32, decode_vector, encode_vector

__all__ = ["as_float32", "decode_vector", "encode_vector"]
