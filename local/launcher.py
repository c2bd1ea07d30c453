"""Start the local stack as a child process and wait for its `ready` line (demo, tests, sam-local).

The stack prints one line, `ready api=... moto=... model=... queue=... bridge=...`, once every
part answers; this reads it into a `ReadyStack` and stops the child (and so everything it
started) when the `with` block ends, whatever happens inside it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from local.processes import stop

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ReadyStack:
    api: str
    moto: str
    model: str
    queue: str
    bridge: str | None


def parse_ready_line(line: str) -> ReadyStack:
    fields = dict(word.split("=", 1) for word in line.split()[1:] if "=" in word)
    bridge = fields.get("bridge")
    return ReadyStack(fields["api"], fields["moto"], fields["model"], fields["queue"],
                      None if bridge in (None, "-") else bridge)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stack_ports() -> dict[str, str]:
    """Free loopback ports for one stack's moto, model endpoint and API, as the env it reads them from."""
    return {"MOTO_PORT": str(free_port()), "LOCAL_MODEL_PORT": str(free_port()), "LOCAL_API_PORT": str(free_port())}


# The stack talks to moto alone: a developer's profile (which boto3 would try to load) stays out.
REAL_AWS_SETTINGS = ("AWS_PROFILE", "AWS_SESSION_TOKEN")


class StackOutput:
    """The stack's stdout, drained by a thread of its own from the start, and its `ready` line.

    Draining never stops, so the child can never block on a full pipe; waiting for `ready` has a
    deadline of its own, so a stack that hangs, or whose children keep the pipe open after it died,
    can never hang the caller.
    """

    def __init__(self, process: subprocess.Popen[str], sink: IO[str] | None = None) -> None:
        """Start draining `process.stdout` (text mode), copying each line into `sink` when given."""
        if process.stdout is None:
            raise ValueError("the stack's stdout must be a pipe")
        self._process = process
        self._sink = sink
        self._ready: ReadyStack | None = None
        self._settled = threading.Event()  # set on the ready line, or when stdout ends
        self._thread = threading.Thread(target=self._drain, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                if self._sink is not None:
                    try:
                        self._sink.write(line)
                        self._sink.flush()
                    except ValueError:  # the log was closed under us: keep draining regardless
                        self._sink = None
                if self._ready is None and line.startswith("ready"):
                    self._ready = parse_ready_line(line)
                    self._settled.set()
        finally:
            self._settled.set()

    def ready(self, timeout: float, log_path: Path | None = None) -> ReadyStack:
        """The stack's ready line, read within `timeout` seconds.

        Raises RuntimeError, after killing the process, when the stack stops or the time runs out
        before it says `ready` (with the end of `log_path` in the message when given).
        """
        ended = self._settled.wait(timeout)
        if self._ready is not None:
            return self._ready
        # Its stdout ended without `ready`: it stopped (or closed stdout, which is as good as dead).
        why = "stopped before it was ready" if ended else f"was not ready within {timeout:g} s"
        if self._process.poll() is None:
            self._process.kill()
        raise RuntimeError(f"the local stack {why} (exit code {self._process.wait()}){_tail(log_path)}")

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the stack's stdout to end (after the process stopped)."""
        self._thread.join(timeout)


def _tail(log_path: Path | None, lines: int = 40) -> str:
    if log_path is None:
        return ""
    try:
        return "\n" + "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return ""


@contextmanager
def started_stack(
    *, env: Mapping[str, str] | None = None, bridge: bool = False, quiet: bool = True, ready_timeout: float = 600.0,
    log_path: Path | None = None,
) -> Iterator[ReadyStack]:
    """A local stack in a child process; `env` overrides ports (MOTO_PORT, ...) and the like.

    With `log_path`, everything the stack prints goes to that file (and its end into the error
    when the stack does not come up); otherwise `quiet` drops its log or lets it through.
    """
    args = [sys.executable, "-m", "local.stack"] + ([] if bridge else ["--no-bridge"])
    base = {name: value for name, value in os.environ.items() if name not in REAL_AWS_SETTINGS}
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("w", buffering=1)
    process = subprocess.Popen(
        args, cwd=ROOT, env={**base, **(env or {})}, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=log if log is not None else (subprocess.DEVNULL if quiet else None),
    )
    output = StackOutput(process, sink=log if log is not None else (None if quiet else sys.stdout))
    try:
        yield output.ready(ready_timeout, log_path)
    finally:
        stop(process, grace_seconds=30)
        output.join(5)  # the child is gone: its stdout ends, and the log may be closed
        if log is not None:
            log.close()
