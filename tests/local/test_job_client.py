"""The shared job client (local/job_client.py) against a scripted API on httpx's mock transport."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from local.job_client import JobDidNotEnd, cosine, read_vectors, wait_for_job


def status(state: str, succeeded: int = 0, failed: int = 0) -> dict:
    return {"jobId": "j1", "status": state, "total": 4, "succeeded": succeeded, "failed": failed,
            "model": "m", "dimensions": 2, "createdAt": "t0", "updatedAt": "t1", "errors": [],
            "failureReason": None}


def scripted(answers: list[dict]) -> tuple[httpx.Client, list[str]]:
    """A client whose GET /jobs/j1 answers `answers` in turn (the last one again once they run out)."""
    seen: list[str] = []
    pending: Iterator[dict] = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=next(pending, answers[-1]))

    return httpx.Client(base_url="http://api", transport=httpx.MockTransport(handler)), seen


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_waiting_returns_the_first_final_status_and_reports_each_poll() -> None:
    client, seen = scripted([status("queued"), status("running", 2), status("partial", 3, 1), status("running")])
    clock, progress = FakeClock(), []
    job = wait_for_job(client, "j1", interval=0.5, on_progress=lambda j: progress.append(j.succeeded + j.failed),
                       clock=clock, sleep=clock.sleep)
    assert (job.status, job.succeeded, job.failed) == ("partial", 3, 1)
    assert progress == [0, 2, 4]
    assert seen == ["http://api/jobs/j1"] * 3
    assert clock.sleeps == [0.5, 0.5]


@pytest.mark.parametrize("final", ["succeeded", "failed", "partial"])
def test_every_final_status_of_the_job_store_ends_the_wait(final: str) -> None:
    client, seen = scripted([status(final)])
    assert wait_for_job(client, "j1", clock=FakeClock()).status == final
    assert len(seen) == 1


def test_a_job_that_never_ends_raises_after_the_timeout_with_its_last_status() -> None:
    client, seen = scripted([status("running", 1)])
    clock = FakeClock()
    with pytest.raises(JobDidNotEnd) as raised:
        wait_for_job(client, "j1", timeout=3, interval=1, clock=clock, sleep=clock.sleep)
    assert str(raised.value) == "job j1 still running (1 of 4 items done) after 3 s"
    assert raised.value.last is not None and raised.value.last.status == "running"
    assert len(seen) == 4  # at 0, 1, 2 and 3 s: never a sleep past the deadline
    assert clock.now == 3


def test_an_unknown_job_raises_the_apis_404_instead_of_waiting() -> None:
    client = httpx.Client(base_url="http://api", transport=httpx.MockTransport(
        lambda request: httpx.Response(404, json={"error": "no job j1", "code": "job_not_found"})))
    with pytest.raises(httpx.HTTPStatusError) as raised:
        wait_for_job(client, "j1", clock=FakeClock())
    assert raised.value.response.status_code == 404


def test_reading_vectors_follows_next_token_until_it_is_null() -> None:
    pages = {
        None: {"items": [{"index": 0, "id": "a", "vector": [1.0, 0.0]}, {"index": 1, "id": None, "vector": [0, 1]}],
               "nextToken": "t1"},
        "t1": {"items": [{"index": 2, "id": "c", "vector": [0.5, 0.5]}], "nextToken": None},
    }
    asked: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/jobs/j1/vectors"
        params = dict(request.url.params)
        asked.append(params)
        return httpx.Response(200, content=json.dumps(pages[params.get("nextToken")]))

    client = httpx.Client(base_url="http://api", transport=httpx.MockTransport(handler))
    items = read_vectors(client, "j1", page_size=2)
    assert [(item.index, item.id, item.vector) for item in items] == [
        (0, "a", [1.0, 0.0]), (1, None, [0.0, 1.0]), (2, "c", [0.5, 0.5])]
    assert asked == [{"limit": "2"}, {"limit": "2", "nextToken": "t1"}]


def test_cosine_of_known_angles() -> None:
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([2, 0], [3, 0]) == 1.0
    assert cosine([1, 1], [-1, -1]) == pytest.approx(-1.0)
    assert cosine([3, 4], [4, 3]) == pytest.approx(24 / 25)
    assert cosine([0, 0], [1, 1]) == 0.0


def test_cosine_refuses_vectors_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="vectors of 2 and 3 dimensions"):
        cosine([1, 0], [1, 0, 0])
