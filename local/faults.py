"""Faults injected into the AWS calls of the local stack's function processes (not deployed).

    LOCAL_FAULTS_FILE=/tmp/faults.json python -m local.stack

With LOCAL_FAULTS_FILE set, every function process (`local.runtime`) hooks botocore's
`before-send` event before it imports its handler, so each DynamoDB, SQS or KMS request the
function makes first passes through the rules of that file. The file is read again whenever it
changes, so one running stack can go through many fault scenarios:

    {"generation": "row-7", "rules": [
      {"name": "throttle", "function": "WorkerFunction", "operation": "dynamodb.BatchWriteItem",
       "rate": 0.3, "action": "error", "status": 400, "code": "ThrottlingException"}]}

A rule matches a request by `function` (the pool's name, `*` for all), `operation`
(`service.Operation` as botocore names it) and `match` (a string the request body must contain);
`after` lets the first N matching requests of a process through; `rate` is the share of the
others it fires on; `budget` caps how often it fires in all, across every process and restart
(counted with marker files beside the faults file, per `generation`). Actions:

- `error`: answer with `status` and an AWS JSON error `code` instead of sending (botocore's own
  retries then apply, as they would to the real service's answer);
- `exit`: the process dies on the spot (`os._exit`), as a Lambda killed mid-invocation;
- `hang`: sleep `seconds` before sending (past the function's timeout, it is killed as Lambda would);
- `duplicate`: the request is sent twice (a SendMessageBatch puts every message on the queue twice).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.awsrequest import AWSResponse
from pydantic import BaseModel, ConfigDict, Field

KILLED_EXIT_CODE = 137


class FaultRule(BaseModel):
    """One fault: where it applies, how often, and what happens."""

    model_config = ConfigDict(extra="forbid")

    name: str
    function: str = "*"
    operation: str
    match: str | None = None
    after: int = Field(0, ge=0)
    rate: float = Field(1.0, ge=0, le=1)
    budget: int | None = Field(None, ge=0)
    action: str = Field(pattern="^(error|exit|hang|duplicate)$")
    status: int = 400
    code: str = "ThrottlingException"
    message: str = "injected fault"
    seconds: float = 0.0


class FaultPlan(BaseModel):
    """The whole file: a generation name (budgets are counted per generation) and its rules."""

    model_config = ConfigDict(extra="forbid")

    generation: str = "0"
    rules: list[FaultRule] = []


def write_plan(path: Path, plan: FaultPlan) -> None:
    """Replace the faults file at `path` with `plan` in one rename, so no reader sees half of it."""
    staging = path.with_suffix(".tmp")
    staging.write_text(plan.model_dump_json())
    staging.replace(path)


class _RawBody:
    """What AWSResponse reads a body from (urllib3's `stream()`)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, *_: Any, **__: Any) -> Any:
        yield self._data


def error_response(url: str, status: int, code: str, message: str) -> AWSResponse:
    """An AWS JSON-protocol error answer (DynamoDB, SQS, KMS all speak it), as botocore parses it."""
    body = json.dumps({"__type": code, "message": message}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender",
               "Content-Length": str(len(body))}
    return AWSResponse(url, status, headers, _RawBody(body))


class FaultInjector:
    """The rules of one faults file, applied to the requests of this process."""

    def __init__(self, path: Path, function: str, rng: random.Random | None = None) -> None:
        self._path = path
        self._function = function
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._plan = FaultPlan()
        self._seen: dict[tuple[str, str], int] = {}

    def _current(self) -> FaultPlan:
        try:
            stamp = self._path.stat().st_mtime_ns
        except FileNotFoundError:
            return FaultPlan()
        if stamp != self._stamp:
            self._plan = FaultPlan.model_validate_json(self._path.read_text())
            self._stamp = stamp
        return self._plan

    def _spend(self, plan: FaultPlan, rule: FaultRule) -> bool:
        """Take one firing from the rule's budget, shared by all processes; False when it is spent."""
        if rule.budget is None:
            return True
        folder = self._path.parent / f"{self._path.name}.fired"
        folder.mkdir(exist_ok=True)
        for n in range(rule.budget):
            try:
                os.close(os.open(folder / f"{plan.generation}-{rule.name}-{n}", os.O_CREAT | os.O_EXCL))
                return True
            except FileExistsError:
                continue
        return False

    def choose(self, operation: str, body: bytes) -> FaultRule | None:
        """The rule that fires for this request of `operation` (`service.Operation`), if any."""
        with self._lock:
            plan = self._current()
            for rule in plan.rules:
                if rule.operation != operation or rule.function not in ("*", self._function):
                    continue
                if rule.match is not None and rule.match.encode() not in body:
                    continue
                key = (plan.generation, rule.name)
                self._seen[key] = self._seen.get(key, 0) + 1
                if self._seen[key] <= rule.after or self._rng.random() >= rule.rate:
                    continue
                if self._spend(plan, rule):
                    return rule
        return None

    def before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        """botocore's `before-send` hook: an answer to use instead of sending, or None to send."""
        _, service, operation = event_name.split(".", 2)
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        rule = self.choose(f"{service}.{operation}", body)
        if rule is None:
            return None
        print(f"fault {rule.name}: {rule.action} on {service}.{operation} in {self._function}", flush=True)
        if rule.action == "exit":
            os._exit(KILLED_EXIT_CODE)
        if rule.action == "hang":
            time.sleep(rule.seconds)
            return None
        if rule.action == "duplicate":
            # The same signed request once more, on the side: the real send follows it.
            httpx.post(request.url, headers=dict(request.headers.items()), content=body, timeout=10)
            return None
        return error_response(request.url, rule.status, rule.code, rule.message)


def install_from_environment() -> FaultInjector | None:
    """Hook the default boto3 session of this process when LOCAL_FAULTS_FILE is set; returns the injector.

    Must run before the function's module makes its clients (they copy the session's hooks).
    """
    path = os.environ.get("LOCAL_FAULTS_FILE")
    if not path:
        return None
    injector = FaultInjector(Path(path), os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "*"))
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-send", injector.before_send)
    return injector
