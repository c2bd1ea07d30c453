"""The local stack's moto keeps every write when a transaction is cancelled beside it.

moto rolls a cancelled TransactWriteItems back by restoring a snapshot of the table, which drops
what other requests wrote meanwhile; a job's counters then lose a chunk and the job never ends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from local.launcher import free_port
from local.moto_dynamodb import SerializedMotoServer

ROUNDS = 100


@pytest.fixture
def dynamodb() -> Iterator[object]:
    port = free_port()
    server = SerializedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
    finally:
        server.stop()


def test_counts_added_beside_cancelled_transactions_are_all_kept(dynamodb) -> None:
    dynamodb.create_table(TableName="jobs", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    dynamodb.put_item(TableName="jobs", Item={"k": {"S": "marker"}})
    for n in range(200):  # a table of some size: moto's snapshot of it takes a while, as in a long run
        dynamodb.put_item(TableName="jobs", Item={"k": {"S": f"other-{n}"}, "v": {"S": "x" * 200}})

    def cancelled_transactions() -> None:
        for _ in range(ROUNDS):
            # A marker written already: the condition fails and the transaction is cancelled.
            with contextlib.suppress(ClientError):
                dynamodb.transact_write_items(TransactItems=[{"Put": {
                    "TableName": "jobs", "Item": {"k": {"S": "marker"}},
                    "ConditionExpression": "attribute_not_exists(k)"}}])

    def counts() -> None:
        for _ in range(ROUNDS):
            dynamodb.update_item(TableName="jobs", Key={"k": {"S": "job"}}, UpdateExpression="ADD n :one",
                                 ExpressionAttributeValues={":one": {"N": "1"}})

    threads = [threading.Thread(target=cancelled_transactions), threading.Thread(target=counts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert dynamodb.get_item(TableName="jobs", Key={"k": {"S": "job"}})["Item"]["n"] == {"N": str(ROUNDS)}
