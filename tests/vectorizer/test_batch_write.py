"""BatchWriteItem: at most 25 requests a call, UnprocessedItems sent again with backoff.

moto never answers UnprocessedItems, so DynamoDB is a scripted stub here (and botocore's Stubber,
to hold the calls to the real API's shape).
"""

from __future__ import annotations

import copy
import random
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from vectorizer.batch_write import MAX_BATCH_ITEMS, MAX_ROUNDS, UnprocessedItemsError, batch_write

TABLE = "vectors"


def put(n: int) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"jobId": {"S": "job"}, "index": {"N": str(n)}}}}


class CeilingRng(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


class ScriptedDynamo:
    """Answers each call with the requests named by `refuse` (a function of call number) unprocessed."""

    def __init__(self, refuse: Any = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._refuse = refuse or (lambda call, pending: [])

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        assert list(kwargs) == ["RequestItems"]
        assert list(kwargs["RequestItems"]) == [TABLE]
        pending = kwargs["RequestItems"][TABLE]
        assert 1 <= len(pending) <= 25
        self.calls.append(copy.deepcopy(pending))
        unprocessed = self._refuse(len(self.calls), pending)
        return {"UnprocessedItems": {TABLE: unprocessed} if unprocessed else {}}


def indexes(requests: list[dict[str, Any]]) -> list[int]:
    return [int(r["PutRequest"]["Item"]["index"]["N"]) for r in requests]


def test_constants() -> None:
    assert (MAX_BATCH_ITEMS, MAX_ROUNDS) == (25, 8)


def test_requests_go_out_25_at_a_time_in_order() -> None:
    db = ScriptedDynamo()
    sleeps: list[float] = []
    batch_write(db, TABLE, [put(n) for n in range(60)], sleep=sleeps.append)
    assert [indexes(call) for call in db.calls] == [list(range(0, 25)), list(range(25, 50)), list(range(50, 60))]
    assert sleeps == []


@pytest.mark.parametrize(("count", "sizes"), [(1, [1]), (25, [25]), (26, [25, 1]), (50, [25, 25]), (51, [25, 25, 1])])
def test_batch_boundaries(count: int, sizes: list[int]) -> None:
    db = ScriptedDynamo()
    batch_write(db, TABLE, [put(n) for n in range(count)], sleep=lambda s: None)
    assert [len(call) for call in db.calls] == sizes


def test_nothing_to_write_makes_no_call() -> None:
    db = ScriptedDynamo()
    batch_write(db, TABLE, [], sleep=lambda s: None)
    assert db.calls == []


def test_unprocessed_items_are_sent_again_and_only_they() -> None:
    # The first call leaves its last five unprocessed; the retry takes them.
    db = ScriptedDynamo(lambda call, pending: pending[-5:] if call == 1 else [])
    sleeps: list[float] = []
    batch_write(db, TABLE, [put(n) for n in range(40)], sleep=sleeps.append, rng=CeilingRng())
    assert [indexes(call) for call in db.calls] == [list(range(25)), list(range(20, 25)), list(range(25, 40))]
    assert sleeps == [0.1]  # full jitter, top of min(2.0, 0.05 * 2**1)


def test_retries_back_off_and_give_up_after_max_rounds() -> None:
    db = ScriptedDynamo(lambda call, pending: pending[:3])
    sleeps: list[float] = []
    with pytest.raises(UnprocessedItemsError) as caught:
        batch_write(db, TABLE, [put(n) for n in range(10)], sleep=sleeps.append, rng=CeilingRng())
    assert str(caught.value) == f"3 write(s) to {TABLE} still unprocessed after 8 rounds"
    assert [len(call) for call in db.calls] == [10, 3, 3, 3, 3, 3, 3, 3]
    assert sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_backoff_is_jittered_from_the_rng() -> None:
    db = ScriptedDynamo(lambda call, pending: pending[:1] if call <= 3 else [])
    sleeps: list[float] = []
    batch_write(db, TABLE, [put(0), put(1)], sleep=sleeps.append, rng=random.Random(5))
    reference = random.Random(5)
    assert sleeps == [reference.uniform(0, 0.1), reference.uniform(0, 0.2), reference.uniform(0, 0.4)]
    assert len(db.calls) == 4


def test_items_left_over_in_a_later_batch_still_raise() -> None:
    # The first batch succeeds; the second never does.
    db = ScriptedDynamo(lambda call, pending: pending if indexes(pending)[0] >= 25 else [])
    with pytest.raises(UnprocessedItemsError, match=r"^5 write"):
        batch_write(db, TABLE, [put(n) for n in range(30)], sleep=lambda s: None, rng=CeilingRng())
    assert len(db.calls) == 1 + MAX_ROUNDS


def test_with_botocore_stubber_the_calls_fit_the_real_api(aws_env: None) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    requests = [put(n) for n in range(27)]
    with Stubber(client) as stub:
        stub.add_response(
            "batch_write_item", {"UnprocessedItems": {TABLE: requests[23:25]}},
            {"RequestItems": {TABLE: requests[:25]}},
        )
        stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {TABLE: requests[23:25]}})
        stub.add_response("batch_write_item", {}, {"RequestItems": {TABLE: requests[25:]}})
        sleeps: list[float] = []
        batch_write(client, TABLE, requests, sleep=sleeps.append, rng=CeilingRng())
        stub.assert_no_pending_responses()
    assert sleeps == [0.1]
