from __future__ import annotations

from vectorizer.packing import pack


def test_groups_close_at_the_count_or_the_byte_size_whichever_comes_first() -> None:
    assert pack([1, 1, 1, 1, 1], max_count=2, max_bytes=100) == [[0, 1], [2, 3], [4]]
    assert pack([40, 40, 40, 10], max_count=10, max_bytes=90) == [[0, 1], [2, 3]]


def test_a_thing_over_the_byte_size_still_gets_a_group_of_its_own() -> None:
    assert pack([5, 500, 5], max_count=10, max_bytes=100) == [[0], [1], [2]]


def test_nothing_to_pack_is_no_group() -> None:
    assert pack([], max_count=3, max_bytes=10) == []
