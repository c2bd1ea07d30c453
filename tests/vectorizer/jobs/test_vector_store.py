"""Vectors on moto DynamoDB: float32 bytes keyed by (job, index), read back page by page in order."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from tests.vectorizer.conftest import VECTORS_TABLE
from vectorizer.codec import encode_vector
from vectorizer.errors import VectorizerError
from vectorizer.jobs.vector_store import StoredVector, VectorStore, decode_page_token, encode_page_token


@pytest.fixture
def store(dynamodb: Any) -> VectorStore:
    return VectorStore(dynamodb, VECTORS_TABLE, ttl_days=7)


def vector(n: int) -> list[float]:
    """Values float32 holds exactly, distinct per index."""
    return [n / 8, -n / 16, 1.0, 0.5]


def read_all(store: VectorStore, job_id: str, limit: int) -> tuple[list[StoredVector], list[int]]:
    items: list[StoredVector] = []
    sizes: list[int] = []
    token: str | None = None
    for _ in range(1000):
        page, token = store.page(job_id, limit=limit, next_token=token)
        items.extend(page)
        sizes.append(len(page))
        if token is None:
            return items, sizes
    raise AssertionError("pagination never ended")


def test_page_token_round_trip() -> None:
    for index in (0, 1, 99, 49_999, 10**12):
        token = encode_page_token(index)
        assert "=" not in token
        assert decode_page_token(token) == index
    assert encode_page_token(41) == "eyJpIjogNDF9"


@pytest.mark.parametrize(
    "token",
    [
        "garbage!", "", "e30", "bnVsbA", "WzFd",
        base64.urlsafe_b64encode(json.dumps({"i": -1}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"i": "3"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"i": 1.5}).encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_foreign_page_tokens_are_refused(token: str) -> None:
    with pytest.raises(VectorizerError) as caught:
        decode_page_token(token)
    assert (caught.value.status, caught.value.code) == (400, "invalid_next_token")
    assert caught.value.message == "nextToken is not one this service gave out"


def test_put_stores_float32_bytes_and_metadata(store: VectorStore, dynamodb: Any) -> None:
    before = int(time.time())
    store.put("job-1", [StoredVector(0, "doc-0", [0.1, -2.0]), StoredVector(1, None, [1.0, 0.5])], model="org/m")
    item = dynamodb.get_item(TableName=VECTORS_TABLE, Key={"jobId": {"S": "job-1"}, "index": {"N": "0"}})["Item"]
    assert bytes(item["vector"]["B"]) == encode_vector([0.1, -2.0]) == bytes.fromhex("cdcccc3d000000c0")
    assert (item["dims"]["N"], item["model"]["S"], item["id"]["S"]) == ("2", "org/m", "doc-0")
    assert before + 7 * 86_400 <= int(item["ttl"]["N"]) <= int(time.time()) + 7 * 86_400
    other = dynamodb.get_item(TableName=VECTORS_TABLE, Key={"jobId": {"S": "job-1"}, "index": {"N": "1"}})["Item"]
    assert "id" not in other


def test_vectors_read_back_as_float32(store: VectorStore) -> None:
    store.put("job-1", [StoredVector(0, "a", [0.1, 1 / 3, -2.0])], model="m")
    page, token = store.page("job-1", limit=10, next_token=None)
    assert page == [StoredVector(0, "a", [0.10000000149011612, 0.3333333432674408, -2.0])]
    assert token is None


def test_pages_come_in_index_order_across_writes_out_of_order(store: VectorStore) -> None:
    # Written in a scrambled order and in several calls (several BatchWriteItem batches each).
    order = [(i * 37) % 130 for i in range(130)]
    assert sorted(order) == list(range(130))
    for start in range(0, 130, 60):
        store.put("job-1", [StoredVector(i, f"doc-{i}", vector(i)) for i in order[start:start + 60]], model="m")
    items, sizes = read_all(store, "job-1", limit=25)
    assert [v.index for v in items] == list(range(130))  # numeric, not string, order: 9 < 10 < 100
    assert items == [StoredVector(i, f"doc-{i}", vector(i)) for i in range(130)]
    assert sizes[:5] == [25, 25, 25, 25, 25]
    assert all(size <= 25 for size in sizes)


def test_first_page_and_its_token(store: VectorStore) -> None:
    store.put("job-1", [StoredVector(i, None, vector(i)) for i in range(7)], model="m")
    page, token = store.page("job-1", limit=3, next_token=None)
    assert [v.index for v in page] == [0, 1, 2]
    assert token == encode_page_token(2)
    page, token = store.page("job-1", limit=3, next_token=token)
    assert [v.index for v in page] == [3, 4, 5]
    assert token == encode_page_token(5)
    page, token = store.page("job-1", limit=3, next_token=token)
    assert [v.index for v in page] == [6]
    assert token is None


def test_a_token_resumes_after_its_index(store: VectorStore) -> None:
    store.put("job-1", [StoredVector(i, None, vector(i)) for i in range(10)], model="m")
    page, _ = store.page("job-1", limit=4, next_token=encode_page_token(5))
    assert [v.index for v in page] == [6, 7, 8, 9]


def test_jobs_do_not_see_each_others_vectors(store: VectorStore) -> None:
    store.put("job-1", [StoredVector(i, None, vector(i)) for i in range(3)], model="m")
    store.put("job-2", [StoredVector(i, None, vector(i + 100)) for i in range(2)], model="m")
    assert [v.vector for v in read_all(store, "job-2", limit=10)[0]] == [vector(100), vector(101)]
    assert [v.index for v in read_all(store, "job-1", limit=2)[0]] == [0, 1, 2]
    assert store.page("job-3", limit=10, next_token=None) == ([], None)


def test_a_redelivered_chunk_overwrites_rather_than_adds(store: VectorStore) -> None:
    store.put("job-1", [StoredVector(i, f"doc-{i}", vector(i)) for i in range(5)], model="m")
    store.put("job-1", [StoredVector(i, f"doc-{i}", vector(i)) for i in range(5)], model="m")
    items, _ = read_all(store, "job-1", limit=100)
    assert items == [StoredVector(i, f"doc-{i}", vector(i)) for i in range(5)]


def test_gaps_for_failed_items_are_skipped(store: VectorStore) -> None:
    store.put("job-1", [StoredVector(i, None, vector(i)) for i in (0, 1, 3, 4)], model="m")
    items, _ = read_all(store, "job-1", limit=2)
    assert [v.index for v in items] == [0, 1, 3, 4]


def test_putting_nothing_writes_nothing(store: VectorStore) -> None:
    store.put("job-1", [], model="m")
    assert store.page("job-1", limit=10, next_token=None) == ([], None)


def test_a_bad_token_is_refused_before_querying(store: VectorStore) -> None:
    with pytest.raises(VectorizerError) as caught:
        store.page("job-1", limit=10, next_token="not-a-token")
    assert caught.value.code == "invalid_next_token"


@pytest.mark.parametrize("index", [True, False, 10**59, 10**38], ids=["true", "false", "60-digits", "39-digits"])
def test_a_token_naming_no_storable_index_is_refused_before_dynamodb_sees_it(store: VectorStore, index: int) -> None:
    token = base64.urlsafe_b64encode(json.dumps({"i": index}).encode()).decode()
    with pytest.raises(VectorizerError) as caught:
        store.page("job-1", limit=10, next_token=token)
    assert (caught.value.status, caught.value.code) == (400, "invalid_next_token")


def test_the_largest_index_dynamodb_can_hold_is_a_valid_token(store: VectorStore) -> None:
    store.put("job-1", [StoredVector(index=0, id=None, vector=vector(0))], model="m")
    assert store.page("job-1", limit=10, next_token=encode_page_token(10**38 - 1)) == ([], None)
