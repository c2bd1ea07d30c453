"""The performance benchmark's fake endpoint: its batch limit, its queue and its overload answer."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from benchmarks.performance.fake_endpoint import Endpoint, EndpointParams, Gate, inputs_of, started_endpoint
from tests.fakes.fake_hf_server import expected_vector


def body(texts: list[str]) -> bytes:
    return json.dumps({"inputs": texts}).encode()


def test_a_request_of_more_texts_than_the_batch_limit_is_answered_413_and_counted_as_too_large() -> None:
    endpoint = Endpoint(EndpointParams(latency=0, max_batch=2, concurrency=1, queue=0))
    status, answer = endpoint.answer(body(["a", "b", "c"]))
    assert status == 413
    assert json.loads(answer)["error"] == "batch size 3 > maximum allowed batch size 2"
    assert (endpoint.stats().too_large, endpoint.stats().requests) == (1, 0)


def test_an_answer_holds_the_deterministic_vector_of_each_text_in_order_and_counts_its_texts() -> None:
    endpoint = Endpoint(EndpointParams(latency=0, max_batch=4, concurrency=1, queue=0, dimensions=8))
    status, answer = endpoint.answer(body(["one", "two"]))
    assert status == 200
    assert json.loads(answer) == [expected_vector("one", 8), expected_vector("two", 8)]
    assert (endpoint.stats().requests, endpoint.stats().texts) == (1, 2)


def test_a_single_string_input_is_one_text_and_anything_else_is_no_input() -> None:
    assert inputs_of(b'{"inputs": "alone"}') == ["alone"]
    assert inputs_of(b'{"inputs": [1, 2]}') is None
    assert inputs_of(b"not json") is None


def test_the_gate_runs_c_requests_queues_q_more_and_refuses_the_next_at_once() -> None:
    gate = Gate(concurrency=2, queue=1)
    assert gate.enter() and gate.enter()  # two run
    waiter_done = threading.Event()

    def wait_in_queue() -> None:
        gate.enter()
        waiter_done.set()

    waiter = threading.Thread(target=wait_in_queue)
    waiter.start()
    time.sleep(0.05)
    assert not waiter_done.is_set()  # the third waits for a slot
    assert gate.enter() is False  # the fourth finds the queue full: a 429
    gate.leave()  # a slot frees: the waiter takes it
    waiter.join(2)
    assert waiter_done.is_set()
    assert (gate.most_running, gate.most_waiting) == (2, 1)


def test_a_queued_request_is_served_in_arrival_order() -> None:
    gate = Gate(concurrency=1, queue=2)
    assert gate.enter()
    served: list[str] = []

    def request(name: str) -> None:
        gate.enter()
        served.append(name)

    first = threading.Thread(target=request, args=("first",))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=request, args=("second",))
    second.start()
    time.sleep(0.05)
    gate.leave()
    first.join(2)
    gate.leave()
    second.join(2)
    assert served == ["first", "second"]


def test_an_overloaded_endpoint_answers_429_over_http_and_counts_it() -> None:
    params = EndpointParams(latency=0.5, max_batch=4, concurrency=1, queue=0, dimensions=4)
    with started_endpoint(params) as endpoint:
        url = f"{endpoint.base_url}/models/m/pipeline/feature-extraction"
        results: list[int] = []
        slow = threading.Thread(target=lambda: results.append(httpx.post(url, json={"inputs": ["x"]}).status_code))
        slow.start()
        time.sleep(0.2)  # the first request holds the only slot; no queue behind it
        refused = httpx.post(f"{endpoint.base_url}/", json={"inputs": ["y"]})
        slow.join(5)
        assert refused.status_code == 429
        assert results == [200]
        counts = endpoint.stats()
        assert (counts.requests, counts.texts, counts.overloaded) == (1, 1, 1)
        endpoint.reset()
        assert endpoint.stats().requests == 0


@pytest.mark.parametrize("path", ["/nothing", "/models/m/pipeline/sentence-similarity"])
def test_paths_other_than_feature_extraction_are_not_found(path: str) -> None:
    with started_endpoint(EndpointParams(latency=0, dimensions=4)) as endpoint:
        assert httpx.post(endpoint.base_url + path, json={"inputs": ["x"]}).status_code == 404


def test_a_request_takes_its_latency_from_admission_building_its_answer_included() -> None:
    # A clock that building the answer moves on by 0.1 s: the request then sleeps only the rest of
    # its 0.5 s, so that every request takes the latency the ideals are computed from, not more.
    now = [100.0]
    slept: list[float] = []
    endpoint = Endpoint(EndpointParams(latency=0.5, max_batch=4, concurrency=1, queue=0, dimensions=4),
                        clock=lambda: now[0], sleep=slept.append)

    def slow_vector(text: str) -> str:
        now[0] += 0.05
        return json.dumps(expected_vector(text, 4))

    endpoint._vector = slow_vector
    status, _ = endpoint.answer(body(["one", "two"]))
    assert status == 200
    assert slept == [pytest.approx(0.4)]
