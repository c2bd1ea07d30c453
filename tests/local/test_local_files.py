"""The files bucket in the running moto server: uploads notify the split queue, as S3 would."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from local.template_stack import DeployedStack, deploy, s3_notification_configuration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def moto_server(aws_env: None) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        yield url
    finally:
        # moto's backends live in this process and outlast the server: leave them empty.
        httpx.post(f"{url}/moto-api/reset")
        server.stop()


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


@pytest.fixture
def deployed(moto_server: str) -> DeployedStack:
    return deploy(_client("cloudformation", moto_server), s3=_client("s3", moto_server))


def _split_queue_messages(sqs: Any, url: str) -> list[dict[str, Any]]:
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def test_a_put_under_uploads_puts_its_s3_notification_on_the_split_queue(moto_server: str, deployed) -> None:
    env = deployed.environment("SplitterFunction")
    bucket, split_queue = env["FILES_BUCKET"], env["SPLIT_QUEUE_URL"]
    _client("s3", moto_server).put_object(Bucket=bucket, Key="uploads/x/input.jsonl", Body=b'{"text": "a"}\n')

    # S3 sends a test event when a bucket's notifications are set (the splitter ignores it).
    test_event, notification = _split_queue_messages(_client("sqs", moto_server), split_queue)
    assert (test_event["Event"], test_event["Bucket"]) == ("s3:TestEvent", bucket)
    (record,) = notification["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"].startswith("ObjectCreated:")
    # The key is URL-encoded in a notification (moto encodes even the slashes).
    assert (record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])) == (
        bucket, "uploads/x/input.jsonl")


def test_a_put_outside_uploads_notifies_no_one(moto_server: str, deployed) -> None:
    env = deployed.environment("SplitterFunction")
    _client("s3", moto_server).put_object(Bucket=env["FILES_BUCKET"], Key="jobs/x/manifest.json", Body=b"{}")
    messages = _split_queue_messages(_client("sqs", moto_server), env["SPLIT_QUEUE_URL"])
    assert [message.get("Event") for message in messages] == ["s3:TestEvent"]


def test_the_bucket_is_named_from_the_stack_id_and_its_notification_is_read_from_the_template(deployed) -> None:
    assert deployed.physical_ids["FilesBucket"].startswith("vectorizer-files-123456789012-")
    notification = deployed.resolve(deployed.template["Resources"]["FilesBucket"]["Properties"]
                                    ["NotificationConfiguration"])
    split_arn = deployed.outputs["AttSplitQueueArn"]
    assert s3_notification_configuration(notification) == {"QueueConfigurations": [{
        "QueueArn": split_arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
    }]}
