"""Load through the local stack's HTTP API: concurrent inline requests and concurrent jobs, all checked.

A plain asyncio httpx client sends `inline` requests (`mode: sync`) and `jobs` job submissions at
once, then follows every job to its end and reads its vectors back through the API. Each vector
must be the fake endpoint's vector for its own text, under its own job and index; no answer may
be 500 or more. Bounded in count (the numbers given) and in time (`timeout`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from benchmarks.reliability.harness import CALLER_TOKEN, MODEL
from tests.fakes.fake_hf_server import expected_vector
from vectorizer.codec import as_float32
from vectorizer.jobs.job_store import FINAL_STATUSES


@dataclass
class LoadResult:
    """What the load phase saw: answers by status, vectors checked and wrong, jobs not final, seconds."""

    inline: int
    jobs: int
    statuses: dict[int, int] = field(default_factory=dict)
    vectors_checked: int = 0
    vectors_wrong: int = 0
    jobs_not_final: int = 0
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        """Answers of 500 or more (599 stands for a broken connection)."""
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        """No 5xx, every vector right, every job final."""
        return self.server_errors == 0 and self.vectors_wrong == 0 and self.jobs_not_final == 0 \
            and self.vectors_checked > 0


def _texts(kind: str, n: int, count: int) -> list[str]:
    return [f"load {kind} {n} text {i}" for i in range(count)]


def _right(vector: list[float] | None, text: str, dimensions: int) -> bool:
    return vector is not None and as_float32(vector) == expected_vector(text, dimensions)


async def _call(
    client: httpx.AsyncClient, result: LoadResult, method: str, url: str, **kwargs: object
) -> httpx.Response | None:
    try:
        answer = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError:
        result.statuses[599] = result.statuses.get(599, 0) + 1
        return None
    result.statuses[answer.status_code] = result.statuses.get(answer.status_code, 0) + 1
    return answer


async def _inline(client: httpx.AsyncClient, result: LoadResult, n: int, size: int, dimensions: int) -> None:
    texts = _texts("inline", n, size)
    answer = await _call(client, result, "POST", "/vectorize",
                         json={"config": {"model": MODEL}, "texts": texts, "mode": "sync"})
    if answer is None or answer.status_code != 200:
        result.vectors_wrong += size
        return
    vectors = answer.json()["vectors"]
    result.vectors_checked += len(texts)
    result.vectors_wrong += sum(not _right(v, t, dimensions) for v, t in zip(vectors, texts, strict=True))


async def _job(client: httpx.AsyncClient, result: LoadResult, n: int, size: int, dimensions: int,
               deadline: float) -> None:
    texts = _texts("job", n, size)
    answer = await _call(client, result, "POST", "/vectorize",
                         json={"config": {"model": MODEL}, "texts": texts, "mode": "async"})
    if answer is None or answer.status_code != 202:
        result.jobs_not_final += 1
        return
    job_id = answer.json()["jobId"]
    while time.monotonic() < deadline:
        status = await _call(client, result, "GET", f"/jobs/{job_id}")
        if status is not None and status.status_code == 200 and status.json()["status"] in FINAL_STATUSES:
            break
        await asyncio.sleep(1.0)
    else:
        result.jobs_not_final += 1
        return
    seen: dict[int, list[float]] = {}
    token: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 1000, **({"nextToken": token} if token else {})}
        page = await _call(client, result, "GET", f"/jobs/{job_id}/vectors", params=params)
        if page is None or page.status_code != 200:
            break
        body = page.json()
        seen.update({item["index"]: item["vector"] for item in body["items"]})
        token = body["nextToken"]
        if token is None:
            break
    result.vectors_checked += len(texts)
    result.vectors_wrong += sum(not _right(seen.get(i), t, dimensions) for i, t in enumerate(texts))
    result.vectors_wrong += len(set(seen) - set(range(len(texts))))


async def run_load(api: str, dimensions: int, *, inline: int = 50, inline_size: int = 10, jobs: int = 20,
                   job_size: int = 200, timeout: float = 300.0) -> LoadResult:
    """Send `inline` sync requests and `jobs` jobs to `api` at once; returns what came back, checked."""
    result = LoadResult(inline=inline, jobs=jobs)
    started = time.monotonic()
    deadline = started + timeout
    limits = httpx.Limits(max_connections=inline + jobs)
    headers = {"X-Huggingface-Api-Key": CALLER_TOKEN}
    async with httpx.AsyncClient(base_url=api, timeout=120, limits=limits, headers=headers) as client:
        work = [_inline(client, result, n, inline_size, dimensions) for n in range(inline)]
        work += [_job(client, result, n, job_size, dimensions, deadline) for n in range(jobs)]
        await asyncio.wait_for(asyncio.gather(*work), timeout)
    result.seconds = time.monotonic() - started
    return result
