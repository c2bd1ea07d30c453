"""Both functions, loaded as Lambda would load them, wired to the template's resources in moto.

`api()` sends a request through the same API Gateway event shapes the local stack uses, and
`worker_source` feeds the worker from the real work queue with real SQS events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from local.api_gateway import Route, find_route, http_answer, proxy_event
from local.lambda_context import LocalContext
from local.sqs_event_source import SqsEventSource
from local.template_stack import DeployedStack, api_routes


def emf_lines(output: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF blobs (JSON lines with `_aws`) among what a function printed; other lines are skipped."""
    blobs = []
    for line in output.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "_aws" in parsed:
            blobs.append(parsed)
    return blobs


@dataclass
class ApiAnswer:
    status: int
    headers: dict[str, str]
    body: Any


class Harness:
    def __init__(self, stack: DeployedStack, api_module: Any, worker_module: Any, sqs: Any) -> None:
        self.stack = stack
        self.api_module = api_module
        self.worker_module = worker_module
        self.sqs = sqs
        # The API's clients live in a module Python keeps between tests: start each test cold.
        api_module.services.cache_clear()
        self.routes = [Route(m, p) for m, p in api_routes(stack.template, "ApiFunction")]
        env = stack.environment("WorkerFunction")
        self.queue_url = env["WORK_QUEUE_URL"]
        self.dead_letter_url = env["DEAD_LETTER_QUEUE_URL"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self.worker_source = SqsEventSource(
            sqs, self.queue_url, queue_arn["Attributes"]["QueueArn"], self.invoke_worker,
            batch_size=10, redelivery_delay_seconds=0,
        )

    def reconfigure(self, monkeypatch: Any, **env: str) -> None:
        """Change the functions' environment as a new deploy would, and start them cold."""
        from vectorizer.settings import current_settings

        for name, value in env.items():
            monkeypatch.setenv(name, value)
        current_settings.cache_clear()
        self.api_module.services.cache_clear()
        self.worker_module.services.cache_clear()

    def invoke_worker(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.worker_module.lambda_handler(event, LocalContext("WorkerFunction", 300))

    def api_raw(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None, raw_body: bytes | None = None,
    ) -> ApiAnswer:
        """The answer as HTTP would carry it: status, headers and the body's bytes."""
        found = find_route(self.routes, method, path)
        assert found is not None, f"no route for {method} {path}"
        route, params = found
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        event = proxy_event(
            route, params, method=method, path=path,
            headers={"Content-Type": "application/json", **(headers or {})},
            query=list((query or {}).items()), body=data,
        )
        status, answer_headers, payload = http_answer(
            self.api_module.lambda_handler(event, LocalContext("ApiFunction", 29))
        )
        return ApiAnswer(status, dict(answer_headers), payload)

    def api(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None, raw_body: bytes | None = None,
    ) -> ApiAnswer:
        """The answer with its JSON body decoded."""
        answer = self.api_raw(method, path, body, headers=headers, query=query, raw_body=raw_body)
        return ApiAnswer(answer.status, answer.headers, json.loads(answer.body) if answer.body else None)

    def run_worker_until_idle(self) -> int:
        """Feed the worker until the queue is empty; returns how many batches it took."""
        return len(self.worker_source.drain())

    def dead_letters(self) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        return answer.get("Messages", [])
