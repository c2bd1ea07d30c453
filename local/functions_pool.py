"""Warm "containers" for one function: processes started by `local.runtime`, one invocation each at a time."""

from __future__ import annotations

import json
import queue
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class FunctionError(RuntimeError):
    """The function raised or timed out: Lambda's "function error"."""


class FunctionProcess:
    def __init__(self, name: str, function_dir: Path, handler: str, env: dict[str, str], timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        self._args = [sys.executable, "-m", "local.runtime", str(function_dir), handler]
        self._env = {**env, "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
                     "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self._process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            self._args, cwd=ROOT, env=self._env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None, text=True, bufsize=1,
        )
        # No PDEATHSIG here: Linux sends it when the *thread* that started the child ends, and a
        # restart may happen on a short-lived request thread. The runtime leaves on stdin's EOF
        # instead, which comes when this process dies in any way.
        self._process = process
        self._read_line(process, 60.0)  # the {"ready": true} line: imports done (the cold start)
        return process

    def _read_line(self, process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            self.stop()
            raise FunctionError(f"{self.name} timed out after {timeout:.0f} s")
        line = process.stdout.readline()
        if not line:
            self.stop()
            raise FunctionError(f"{self.name} exited (code {process.poll()})")
        return json.loads(line)

    def invoke(self, event: dict[str, Any]) -> Any:
        process = self._process if self._process and self._process.poll() is None else self._start()
        assert process.stdin is not None
        process.stdin.write(json.dumps({"event": event, "requestId": str(uuid.uuid4())}) + "\n")
        process.stdin.flush()
        answer = self._read_line(process, self.timeout + 1.0)
        if "error" in answer:
            raise FunctionError(f"{answer['error']['errorType']}: {answer['error']['errorMessage']}")
        return answer["result"]

    def warm(self) -> None:
        if self._process is None or self._process.poll() is not None:
            self._start()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


class FunctionPool:
    """Up to `size` concurrent invocations of one function, each in its own warm process."""

    def __init__(self, name: str, function_dir: Path, handler: str, env: dict[str, str], *,
                 timeout: float, size: int) -> None:
        self.name = name
        self._all = [FunctionProcess(name, function_dir, handler, env, timeout) for _ in range(size)]
        self._idle: queue.Queue[FunctionProcess] = queue.Queue()
        for process in self._all:
            self._idle.put(process)

    def warm(self) -> None:
        for process in self._all:
            process.warm()

    def invoke(self, event: dict[str, Any], describe: str) -> Any:
        process = self._idle.get()
        started = time.monotonic()
        outcome = "error"
        try:
            result = process.invoke(event)
            outcome = _summary(result)
            return result
        finally:
            self._idle.put(process)
            millis = (time.monotonic() - started) * 1000
            print(f"invoke {self.name} {describe} -> {outcome} in {millis:.0f} ms", file=sys.stderr, flush=True)

    def stop(self) -> None:
        for process in self._all:
            process.stop()


def _summary(result: Any) -> str:
    if isinstance(result, dict) and "statusCode" in result:
        return str(result["statusCode"])
    if isinstance(result, dict) and "batchItemFailures" in result:
        return f"{len(result['batchItemFailures'])} failed"
    return "ok"

