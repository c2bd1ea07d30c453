"""Any string a caller sends as `nextToken` either names a valid item index or is the 400 `invalid_next_token`."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from vectorizer.errors import VectorizerError
from vectorizer.jobs.vector_store import MAX_PAGE_INDEX, decode_page_token, encode_page_token

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=8,
)


def decodes_or_refuses(token: str) -> None:
    try:
        index = decode_page_token(token)
    except VectorizerError as error:
        assert (error.status, error.code) == (400, "invalid_next_token")
        assert error.message == "nextToken is not one this service gave out"
    else:
        assert type(index) is int and 0 <= index <= MAX_PAGE_INDEX


@given(st.text())
def test_any_text_decodes_to_a_valid_index_or_is_refused(token: str) -> None:
    decodes_or_refuses(token)


@given(st.binary())
def test_any_bytes_in_base64_decode_to_a_valid_index_or_are_refused(data: bytes) -> None:
    decodes_or_refuses(base64.urlsafe_b64encode(data).decode().rstrip("="))


@given(JSON_VALUES)
def test_any_json_in_base64_decodes_to_a_valid_index_or_is_refused(value: object) -> None:
    for wrapped in (value, {"i": value}):
        decodes_or_refuses(base64.urlsafe_b64encode(json.dumps(wrapped).encode()).decode())


@given(st.integers(min_value=0, max_value=MAX_PAGE_INDEX))
def test_every_index_round_trips(index: int) -> None:
    assert decode_page_token(encode_page_token(index)) == index


@given(st.integers(min_value=0, max_value=MAX_PAGE_INDEX))
def test_tokens_given_out_are_url_safe(index: int) -> None:
    token = encode_page_token(index)
    assert token.isascii() and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
