"""A job's end, on moto: API -> worker -> one EventBridge event -> the notifier -> a signed callback.

The template's rule is made in moto on the template's bus with its pattern, delivering to a queue
(`local.template_stack.route_rules_to_queues`, as the local stack does); the test reads that queue
and invokes the notifier, as EventBridge would, against a receiver on loopback.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.functions import load_function
from local.lambda_context import LocalContext
from local.template_stack import route_rules_to_queues
from tests.conftest import CALLER_TOKEN
from tests.function_harness import Harness

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SECRET = "integration-callback-secret"
README = Path(__file__).resolve().parents[2] / "README.md"


class Receiver:
    """A callback receiver on loopback answering each POST as `script` says: a status, or `sleep`."""

    def __init__(self, *script: int | str) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server names it so
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                step = receiver.script[min(len(receiver.requests), len(receiver.script)) - 1]
                if step == "sleep":
                    time.sleep(1.5)
                    step = 200
                self.send_response(int(step))
                if 300 <= int(step) < 400:
                    self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/job-ended"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def notices(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The notifier, loaded cold, and the queue the job-ended rule delivers to."""
    harness.reconfigure(
        monkeypatch, CALLBACK_ALLOWED_HOSTS="http://127.0.0.1:*", CALLBACK_SIGNING_SECRET=SECRET,
        CALLBACK_TIMEOUT_SECONDS="0.5", CALLBACK_BACKOFF_BASE_SECONDS="0.01", CALLBACK_BACKOFF_CAP_SECONDS="0.02",
    )
    [queue_url] = route_rules_to_queues(harness.stack, "NotifierFunction", boto3.client("events"), harness.sqs)
    notifier = load_function("notifier")
    notifier.notifier.cache_clear()
    yield notifier, queue_url
    notifier.notifier.cache_clear()


def events_on(harness: Harness, queue_url: str) -> list[dict[str, Any]]:
    answer = harness.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def run_job(harness: Harness, texts: list[str], **extra: Any) -> str:
    answer = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": texts, "mode": "async", **extra},
                         headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
    assert answer.status == 202, answer.body
    harness.run_worker_until_idle()
    return answer.body["jobId"]


def readme_verify() -> Any:
    """The receiver's `verify` exactly as README's "When a job ends" prints it."""
    section = README.read_text().split("## When a job ends", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # our own README's snippet, run as a receiver would
    return namespace["verify"]


def test_a_job_through_the_functions_publishes_exactly_one_event_with_the_exact_detail(
    harness: Harness, notices: tuple[Any, str]
) -> None:
    _, queue_url = notices
    job_id = run_job(harness, ["a cat", "a kitten", "a car"])
    status = harness.api("GET", f"/jobs/{job_id}").body
    [event] = events_on(harness, queue_url)
    assert (event["source"], event["detail-type"]) == ("vectorizer", "Vectorizer Job Ended")
    assert event["detail"] == {
        "jobId": job_id, "status": "succeeded", "total": 3, "succeeded": 3, "failed": 0, "owner": "anonymous",
        "model": MODEL, "dimensions": status["dimensions"], "failureReason": None, "endedAt": status["updatedAt"],
    }
    assert "callbackUrl" not in json.dumps(event)
    assert events_on(harness, queue_url) == []


def test_a_failing_put_events_does_not_fail_the_chunk(
    harness: Harness, notices: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, queue_url = notices
    harness.reconfigure(monkeypatch, EVENT_BUS_NAME="no-such-bus")
    with caplog.at_level(logging.ERROR, logger="vectorizer.jobs.notifications"):
        job_id = run_job(harness, ["a cat", "a kitten"])
    assert harness.api("GET", f"/jobs/{job_id}").body["status"] == "succeeded"
    assert harness.dead_letters() == []
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [f"could not publish the end of job {job_id}"]
    assert events_on(harness, queue_url) == []


def test_a_callback_arrives_signed_and_verifies_after_a_500_and_a_timeout(
    harness: Harness, notices: tuple[Any, str]
) -> None:
    notifier, queue_url = notices
    receiver = Receiver(500, "sleep", 204)
    try:
        job_id = run_job(harness, ["a cat", "a kitten"], callbackUrl=receiver.url)
        [event] = events_on(harness, queue_url)
        answer = notifier.lambda_handler(event, LocalContext("NotifierFunction", 60))
    finally:
        receiver.close()
    assert answer == {"jobId": job_id, "callback": "delivered", "attempts": 3}
    assert [path for path, _, _ in receiver.requests] == ["/hooks/job-ended"] * 3
    _, headers, body = receiver.requests[-1]
    assert json.loads(body) == event["detail"]
    verify = readme_verify()
    assert verify(SECRET, headers["X-Vectorizer-Signature"], body) is True
    assert verify("another-secret", headers["X-Vectorizer-Signature"], body) is False
    assert verify(SECRET, headers["X-Vectorizer-Signature"], body.replace(b"succeeded", b"failed!!!")) is False


def test_a_redirect_from_the_receiver_is_never_followed(harness: Harness, notices: tuple[Any, str]) -> None:
    notifier, queue_url = notices
    receiver = Receiver(302)
    try:
        job_id = run_job(harness, ["a cat"], callbackUrl=receiver.url)
        [event] = events_on(harness, queue_url)
        answer = notifier.lambda_handler(event, LocalContext("NotifierFunction", 60))
    finally:
        receiver.close()
    assert answer == {"jobId": job_id, "callback": "refused", "attempts": 1}
    assert [path for path, _, _ in receiver.requests] == ["/hooks/job-ended"]


def test_a_callback_to_a_host_not_allowed_is_refused_at_submit(harness: Harness, notices: tuple[Any, str]) -> None:
    _, queue_url = notices
    for url, status, code in [
        ("https://hooks.example.com/done", 403, "callback_not_allowed"),
        ("http://user:pw@127.0.0.1:9/done", 403, "callback_not_allowed"),
    ]:
        answer = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": ["a"], "mode": "async",
                                                   "callbackUrl": url}, headers={"X-Huggingface-Api-Key": CALLER_TOKEN})
        assert (answer.status, answer.body["code"]) == (status, code), answer.body
    assert answer.body["error"] == "'callbackUrl' must not carry credentials"
    assert harness.run_worker_until_idle() == 0
    assert events_on(harness, queue_url) == []


def test_a_callback_with_mode_sync_is_refused(harness: Harness) -> None:
    answer = harness.api("POST", "/vectorize", {"config": {"model": MODEL}, "texts": ["a"], "mode": "sync",
                                               "callbackUrl": "https://hooks.example.com/done"})
    assert answer.body == {"code": "validation_error", "error": "the request does not fit the schema: body: Value "
                           "error, 'callbackUrl' is for jobs: with mode 'sync' the answer itself is the notice"}
    assert answer.status == 422


ALARMS = {
    "DeadLettersAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "DeadLetterQueue", "0"),
    "WorkQueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "WorkQueue", "3600"),
    "WorkerErrorsAlarm": ("AWS/Lambda", "Errors", "WorkerFunction", "0"),
}


@pytest.mark.parametrize(("topic", "actions"), [("", None), ("arn:aws:sns:us-east-1:123456789012:ops", True)])
def test_the_alarms_watch_dead_letters_queue_age_and_worker_errors_and_notify_only_a_given_topic(
    topic: str, actions: bool | None
) -> None:
    from local.template_stack import DeployedStack, load_template

    template = load_template()
    parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    stack = DeployedStack(template, {**parameters, "AlarmTopicArn": topic}, physical_ids={}, outputs={})
    for name, (namespace, metric, watched, threshold) in ALARMS.items():
        alarm = template["Resources"][name]["Properties"]
        [dimension] = alarm["Dimensions"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["ComparisonOperator"]) == (
            namespace, metric, "GreaterThanThreshold")
        assert watched in json.dumps(dimension["Value"])
        assert str(stack.resolve(alarm["Threshold"])) == threshold
        for key in ("AlarmActions", "OKActions"):
            assert stack.resolve(alarm[key]) == ([topic] if actions else None)
