"""The demo's knobs and checks (demo/run_demo.py), without a stack."""

from __future__ import annotations

import pytest

from demo.run_demo import CORPUS, demo_limit, file_job_problems, file_listing, job_problems, load_rows
from local.job_client import FileJobOutput, ShardRow
from vectorizer.api.models import ItemErrorModel, JobStatus, VectorItem
from vectorizer.files.manifest import FileJobSummary, ShardSummary, build_manifest

ROWS = [{"id": "a", "text": "one"}, {"id": "b", "text": "two"}]


def job(status: str = "succeeded", succeeded: int = 2, failed: int = 0, **extra) -> JobStatus:
    return JobStatus.model_validate({"jobId": "j", "status": status, "total": 2, "succeeded": succeeded,
                                     "failed": failed, "model": "m", "dimensions": 3, "createdAt": "t",
                                     "updatedAt": "t", "errors": [], **extra})


def stored(*ids: str | None, dimensions: int = 3) -> list[VectorItem]:
    return [VectorItem(index=index, id=item_id, vector=[0.5] * dimensions) for index, item_id in enumerate(ids)]


@pytest.mark.parametrize("env, limit", [({}, None), ({"DEMO_LIMIT": ""}, None), ({"DEMO_LIMIT": "200"}, 200),
                                        ({"DEMO_LIMIT": " 7 "}, 7)])
def test_demo_limit_is_read_from_the_environment(env: dict, limit: int | None) -> None:
    assert demo_limit(env) == limit


@pytest.mark.parametrize("raw", ["0", "-3", "ten", "2.5"])
def test_a_demo_limit_that_is_not_a_positive_whole_number_stops_the_demo_with_a_message(raw: str) -> None:
    with pytest.raises(SystemExit, match=f"^DEMO_LIMIT must be a whole number above 0, not '{raw}'$"):
        demo_limit({"DEMO_LIMIT": raw})


def test_the_limit_takes_the_first_texts_of_the_corpus_and_none_takes_them_all() -> None:
    everything = load_rows(None)
    assert len(everything) == len([line for line in CORPUS.read_text().splitlines() if line.strip()]) >= 1000
    assert load_rows(200) == everything[:200]


def test_a_succeeded_job_with_every_vector_in_order_has_no_problem() -> None:
    assert job_problems(job(), ROWS, stored("a", "b")) == []


def test_a_partial_job_is_a_problem_naming_its_failed_items() -> None:
    partial = job("partial", succeeded=1, failed=1,
                  errors=[ItemErrorModel(index=1, id="b", error="input rejected").model_dump()])
    assert job_problems(partial, ROWS, stored("a")) == [
        "the job ended partial with 1 of 2 texts vectorized and 1 failed (total 2)",
        "item 1 (b): input rejected",
        "1 vectors stored, expected one for each of the 2 texts, in order",
    ]


def test_stored_vectors_under_other_ids_or_of_other_dimensions_are_problems() -> None:
    assert job_problems(job(), ROWS, stored("b", "a")) == ["the stored vectors' ids are not the texts' ids, in order"]
    assert job_problems(job(), ROWS, stored("a", "b", dimensions=2)) == [
        "2 stored vectors do not have 3 dimensions (first: 0)"]


def file_output(status: str = "succeeded", succeeded: int = 2, failed: int = 0,
                ids: tuple[str | None, ...] = ("a", "b"), vector: tuple[float, ...] = (0.5, 0.5, 0.5)) -> FileJobOutput:
    manifest = build_manifest(
        FileJobSummary(job_id="j", status=status, model="m", dimensions=3, source="s3://b/k", total=2,
                       succeeded=succeeded, failed=failed),
        [ShardSummary(chunk=0, count=len(ids), first_line=1, last_line=len(ids))], failed,
    )
    rows = [ShardRow(line=n, id=item_id, vector=list(vector)) for n, item_id in enumerate(ids, start=1)]
    sizes = {"jobs/j/manifest.json": 512, "jobs/j/failed.jsonl": 0, "jobs/j/shards/part-000000.jsonl": 1234}
    return FileJobOutput(manifest=manifest, failures=[], rows=rows, matrix_rows=rows, sizes=sizes)


def test_a_file_job_with_every_line_and_the_body_jobs_vectors_has_no_problem() -> None:
    assert file_job_problems(file_output(), ROWS, stored("a", "b")) == []


def test_a_partial_file_job_is_a_problem_with_its_counts() -> None:
    assert file_job_problems(file_output("partial", succeeded=1, failed=1, ids=("a",)), ROWS, stored("a", "b")) == [
        "the file job ended partial with 1 of 2 lines vectorized and 1 failed (total 2)"]


def test_file_job_rows_under_other_ids_or_with_other_vectors_are_problems() -> None:
    assert file_job_problems(file_output(ids=("b", "a")), ROWS, stored("a", "b")) == [
        "the file job's 2 output rows are not the texts' ids, in order"]
    assert file_job_problems(file_output(vector=(0.5, -0.5, 0.1)), ROWS, stored("a", "b")) == [
        "2 file job vectors differ from the body job's (first: a)"]


def test_the_file_listing_names_each_object_with_its_size_then_the_manifests_counts() -> None:
    assert file_listing(file_output()) == [
        "  jobs/j/manifest.json                    512 bytes",
        "  jobs/j/failed.jsonl                       0 bytes",
        "  jobs/j/shards/part-000000.jsonl       1,234 bytes",
        "manifest: succeeded, total 2, succeeded 2, failed 0, 1 shard(s), 3 dimensions",
    ]
