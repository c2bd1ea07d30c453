"""File jobs at scale, fast: `make scale`'s checks on 2,000 lines and a 200-line file with 5 malformed lines.

A local stack of its own, whose HF_API_BASE_URL is the fake endpoint (vectors are
`expected_vector(text)`, so every output row is compared exactly); `make scale` runs the same
functions on 200,000 lines.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from benchmarks.file_jobs.scale import LOG_DIR, run_file, run_summary, scale_stack

pytestmark = pytest.mark.e2e

LOG = LOG_DIR / "e2e-stack.log"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with scale_stack(LOG) as stack, httpx.Client(base_url=stack.api, timeout=120) as client:
        yield client


def test_every_vector_of_a_two_thousand_line_file_is_the_fakes_for_its_line(client: httpx.Client) -> None:
    run = run_file(client, LOG, 2_000, timeout=600)

    assert run.problems == [], run_summary(run)
    counts = run.output.manifest.counts
    assert (run.job.status, counts.total, counts.succeeded, counts.failed) == ("succeeded", 2_000, 2_000, 0)
    assert [shard.count for shard in run.output.manifest.shards] == [1_000, 1_000]
    assert len(run.output.rows) == len(run.output.matrix_rows) == 2_000


def test_a_file_with_five_malformed_lines_ends_partial_with_exactly_those_lines_failed(client: httpx.Client) -> None:
    malformed = (3, 17, 64, 150, 199)
    run = run_file(client, LOG, 200, malformed, timeout=300)

    assert run.problems == [], run_summary(run)
    assert run.job.status == "partial"
    assert sorted(item.line for item in run.output.failures) == list(malformed)
    assert all(item.error.startswith(f"line {item.line}: not valid JSON") for item in run.output.failures)
    assert (run.output.manifest.counts.succeeded, run.output.manifest.counts.failed) == (195, 5)
