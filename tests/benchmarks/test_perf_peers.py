"""The benchmark's peer clients: each one gets the endpoint's own vectors, one per text, in order."""

from __future__ import annotations

import pytest

from benchmarks.performance.peers import PEERS, PeerFailed, PeerRow, batches, run_peer, run_peers
from tests.fakes.fake_hf_server import FakeHuggingFace, Faults, expected_vector

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PATH = f"/models/{MODEL}/pipeline/feature-extraction"
TEXTS = [f"peer text {number}" for number in range(70)]


@pytest.fixture
def fake():
    with FakeHuggingFace() as server:
        yield server


@pytest.mark.parametrize("name", sorted(PEERS))
def test_each_peer_gets_the_endpoints_vectors_one_per_text_in_order(fake, name: str) -> None:
    row, vectors = run_peer(name, fake.base_url, TEXTS, MODEL)

    assert vectors == [expected_vector(text) for text in TEXTS]
    assert (row.name, row.items) == (name, 70)
    assert fake.observed.paths == {PATH}


@pytest.mark.parametrize(
    ("name", "requests"), [("hf_hub", 3), ("hf_hub_x8", 3), ("langchain", 3), ("weaviate_like", 1)]
)
def test_each_peer_batches_as_it_does_out_of_the_box(fake, name: str, requests: int) -> None:
    run_peer(name, fake.base_url, TEXTS, MODEL)

    assert fake.observed.requests == requests
    assert fake.observed.texts == 70


def test_the_weaviate_like_peer_does_not_retry_a_503_while_the_model_loads(fake) -> None:
    fake.reconfigure(Faults(loading_rate=1.0))

    with pytest.raises(PeerFailed, match="weaviate_like: failed with status: 503"):
        run_peer("weaviate_like", fake.base_url, TEXTS, MODEL)
    assert fake.observed.requests == 1


def test_a_peer_that_gets_one_vector_too_few_fails_rather_than_being_timed(fake) -> None:
    fake.reconfigure(Faults(wrong_count_rate=1.0))

    with pytest.raises(PeerFailed, match="weaviate_like: 69 vectors for 70 texts"):
        run_peer("weaviate_like", fake.base_url, TEXTS, MODEL)


def test_run_peers_answers_one_row_per_peer_with_every_text_counted(fake) -> None:
    rows = run_peers(fake.base_url + "/", TEXTS[:5], MODEL)

    assert [(row.name, row.items) for row in rows] == [(name, 5) for name in PEERS]
    assert fake.observed.paths == {PATH}


def test_items_per_second_divides_items_by_seconds_and_is_zero_for_no_time() -> None:
    assert PeerRow("x", 2.5, 100).items_per_second == 40.0
    assert PeerRow("x", 0.0, 100).items_per_second == 0.0


def test_batches_keep_order_and_put_the_remainder_last() -> None:
    assert batches(list("abcdefg"), 3) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


def test_a_peer_that_fails_gets_a_row_saying_why_and_the_other_peers_still_run(fake) -> None:
    fake.reconfigure(Faults(wrong_count_rate=1.0))

    rows = run_peers(fake.base_url, TEXTS[:5], MODEL)

    assert [(row.name, row.items, row.failed) for row in rows] == [
        (name, 0, f"{name}: 4 vectors for 5 texts") for name in PEERS]


def test_a_peer_row_gets_the_ideal_of_the_endpoint_it_ran_against_and_a_failed_one_none() -> None:
    from benchmarks.performance.__main__ import with_ideal
    from benchmarks.performance.fake_endpoint import EndpointParams

    params = EndpointParams(latency=0.5, max_batch=32, concurrency=8)
    row = with_ideal(PeerRow("x8", 5.0, 2000), params)  # 63 requests: 8 waves of 0.5 s
    assert (row.ideal, row.efficiency) == (4.0, 0.8)
    failed = PeerRow("weaviate_like", 0.1, 0, "413")
    assert with_ideal(failed, params) == failed
    assert failed.efficiency == 0.0
