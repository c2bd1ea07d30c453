"""In-process moto (`mock_aws`), as the function tests use it, keeps DynamoDB requests atomic.

The worker runs an invocation's records in threads. Without one DynamoDB request at a time, a
cancelled transaction beside other writes either drops them or fails with "dictionary changed size
during iteration" (moto deep-copies the table while another thread changes it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

ROUNDS = 150


@pytest.fixture
def dynamodb(aws_env: None) -> Iterator[object]:
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName="jobs", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
        yield client


def test_writes_beside_cancelled_transactions_are_all_kept_and_none_fails(dynamodb) -> None:
    dynamodb.put_item(TableName="jobs", Item={"k": {"S": "marker"}})
    for n in range(200):  # a table of some size: moto's snapshot of it takes a while, as in a long run
        dynamodb.put_item(TableName="jobs", Item={"k": {"S": f"other-{n}"}, "v": {"S": "x" * 200}})
    errors: list[BaseException] = []

    def cancelled_transactions() -> None:
        for _ in range(ROUNDS):
            # A marker written already: the condition fails and the transaction is cancelled.
            with contextlib.suppress(ClientError):
                dynamodb.transact_write_items(TransactItems=[{"Put": {
                    "TableName": "jobs", "Item": {"k": {"S": "marker"}},
                    "ConditionExpression": "attribute_not_exists(k)"}}])

    def counts() -> None:
        for n in range(ROUNDS):
            dynamodb.update_item(TableName="jobs", Key={"k": {"S": "job"}}, UpdateExpression="ADD n :one",
                                 ExpressionAttributeValues={":one": {"N": "1"}})
            dynamodb.put_item(TableName="jobs", Item={"k": {"S": f"new-{n}"}})

    def recording(work) -> None:
        try:
            work()
        except BaseException as error:  # the thread's failure is the finding
            errors.append(error)

    threads = [threading.Thread(target=recording, args=(work,)) for work in (cancelled_transactions, counts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert dynamodb.get_item(TableName="jobs", Key={"k": {"S": "job"}})["Item"]["n"] == {"N": str(ROUNDS)}
    assert dynamodb.scan(TableName="jobs", Select="COUNT")["Count"] == 1 + 200 + 1 + ROUNDS
