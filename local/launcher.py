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


# The stack talks to moto alone: a developer's profile (which boto3 would try to load) stays out.
REAL_AWS_SETTINGS = ("AWS_PROFILE", "AWS_SESSION_TOKEN")


def _forward(stream, sink) -> None:
    # Keep draining the child's stdout after `ready`, so it can never block on a full pipe.
    for line in stream:
        if sink is not None:
            sink.write(line)
            sink.flush()


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
    assert process.stdout is not None
    sink = log if log is not None else (None if quiet else sys.stdout)
    timer = threading.Timer(ready_timeout, process.kill)
    timer.start()
    forwarder = threading.Thread(target=_forward, args=(process.stdout, sink), daemon=True)
    try:
        ready = None
        for line in process.stdout:
            if sink is not None:
                sink.write(line)
            if line.startswith("ready"):
                ready = parse_ready_line(line)
                break
        timed_out = not timer.is_alive() and process.poll() is not None
        timer.cancel()
        if ready is None:
            why = f"was not ready within {ready_timeout:.0f} s" if timed_out else "stopped before it was ready"
            raise RuntimeError(f"the local stack {why} (exit code {process.wait()}){_tail(log_path)}")
        forwarder.start()
        yield ready
    finally:
        timer.cancel()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if forwarder.is_alive():
            forwarder.join(5)  # the child is gone: its stdout ends, and the log may be closed
        if log is not None:
            log.close()
