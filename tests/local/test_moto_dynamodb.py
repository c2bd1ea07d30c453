"""moto keeps DynamoDB requests atomic, in the local stack's server and in-process (`mock_aws`).

The worker runs an invocation's records in threads. moto rolls a cancelled TransactWriteItems
back by restoring a snapshot of the table: without one DynamoDB request at a time, whatever other
requests wrote meanwhile is dropped (a job's counters lose a chunk and the job never ends), or the
snapshot fails with "dictionary changed size during iteration" while another thread writes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.launcher import free_port
from local.moto_dynamodb import SerializedMotoServer

ROUNDS = 150


@contextlib.contextmanager
def _server_client() -> Iterator[object]:
    port = free_port()
    server = SerializedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
    finally:
        server.stop()


@contextlib.contextmanager
def _in_process_client() -> Iterator[object]:
    with mock_aws():  # serialized by tests/conftest.py, as every test's mock_aws is
        yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture(params=["moto server", "in-process"])
def dynamodb(request: pytest.FixtureRequest, aws_env: None) -> Iterator[object]:
    with (_server_client() if request.param == "moto server" else _in_process_client()) as client:
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
