from __future__ import annotations

from vectorizer.packing import pack, pack_runs


def test_groups_close_at_the_count_or_the_byte_size_whichever_comes_first() -> None:
    assert pack([1, 1, 1, 1, 1], max_count=2, max_bytes=100) == [[0, 1], [2, 3], [4]]
    assert pack([40, 40, 40, 10], max_count=10, max_bytes=90) == [[0, 1], [2, 3]]


def test_a_thing_over_the_byte_size_still_gets_a_group_of_its_own() -> None:
    assert pack([5, 500, 5], max_count=10, max_bytes=100) == [[0], [1], [2]]


def test_nothing_to_pack_is_no_group() -> None:
    assert pack([], max_count=3, max_bytes=10) == []


def test_pack_runs_starts_a_new_group_rather_than_split_a_run_that_fits_in_one() -> None:
    sizes = [1] * 7
    runs = ["a", "a", "a", "b", "b", "b", "c"]

    assert pack(sizes, max_count=4, max_bytes=100) == [[0, 1, 2, 3], [4, 5, 6]]
    assert pack_runs(sizes, runs, max_count=4, max_bytes=100) == [[0, 1, 2], [3, 4, 5, 6]]


def test_pack_runs_cuts_a_run_too_large_for_any_group_as_pack_would() -> None:
    sizes = [1] * 6
    runs = ["a", "b", "b", "b", "b", "b"]

    assert pack_runs(sizes, runs, max_count=3, max_bytes=100) == [[0, 1, 2], [3, 4, 5]]
    assert pack_runs([5, 5, 5], ["x", "x", "y"], max_count=10, max_bytes=10) == [[0, 1], [2]]


def test_pack_runs_with_max_runs_bounds_the_distinct_runs_of_a_group_not_its_positions() -> None:
    runs = ["a", "a", "a", "b", "b", "c", "d", "d"]

    assert pack_runs([1] * 8, runs, max_count=100, max_bytes=100, max_runs=2) == [[0, 1, 2, 3, 4], [5, 6, 7]]
    assert pack_runs([1] * 8, runs, max_count=4, max_bytes=100, max_runs=2) == [[0, 1, 2], [3, 4, 5], [6, 7]]
