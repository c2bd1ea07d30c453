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


def _forward(stream, sink) -> None:
    # Keep draining the child's stdout after `ready`, so it can never block on a full pipe.
    for line in stream:
        if sink is not None:
            sink.write(line)
            sink.flush()


@contextmanager
def started_stack(
    *, env: Mapping[str, str] | None = None, bridge: bool = False, quiet: bool = True, ready_timeout: float = 600.0,
) -> Iterator[ReadyStack]:
    """A local stack in a child process; `env` overrides ports (MOTO_PORT, ...) and the like."""
    args = [sys.executable, "-m", "local.stack"] + ([] if bridge else ["--no-bridge"])
    process = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **(env or {})}, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    assert process.stdout is not None
    timer = threading.Timer(ready_timeout, process.kill)
    timer.start()
    try:
        ready = None
        for line in process.stdout:
            if line.startswith("ready"):
                ready = parse_ready_line(line)
                break
        timer.cancel()
        if ready is None:
            raise RuntimeError(f"the local stack stopped before it was ready (exit code {process.wait()})")
        threading.Thread(target=_forward, args=(process.stdout, None if quiet else sys.stdout), daemon=True).start()
        yield ready
    finally:
        timer.cancel()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
