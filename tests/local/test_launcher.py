"""Reading the local stack's `ready` line (local/launcher.py) from stand-in children that misbehave."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from local.launcher import ReadyStack, StackOutput

READY = "ready api=http://127.0.0.1:3000 moto=http://127.0.0.1:5000 model=http://127.0.0.1:8088 queue=q bridge=-"


@pytest.fixture
def spawn() -> Iterator:
    """Start `python -c CODE` in a session of its own; every process of that session is killed after the test."""
    started: list[subprocess.Popen[str]] = []

    def run(code: str) -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, "-c", code], text=True, stdout=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        started.append(process)
        return process

    yield run
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_ready_line_is_read_and_lines_before_and_after_it_reach_the_sink(spawn) -> None:
    process = spawn(f"print('starting'); print({READY!r}, flush=True); print('invoked ApiFunction')")
    sink = io.StringIO()
    output = StackOutput(process, sink=sink)
    assert output.ready(timeout=30) == ReadyStack("http://127.0.0.1:3000", "http://127.0.0.1:5000",
                                                  "http://127.0.0.1:8088", "q", None)
    process.wait(30)
    output.join(5)
    assert sink.getvalue() == f"starting\n{READY}\ninvoked ApiFunction\n"


def test_a_stack_that_never_says_ready_is_killed_at_its_timeout(spawn) -> None:
    process = spawn("import time; print('loading the model', flush=True); time.sleep(60)")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"^the local stack was not ready within 1 s \(exit code -9\)$"):
        StackOutput(process).ready(timeout=1)
    assert time.monotonic() - started < 10
    assert process.poll() == -signal.SIGKILL


def test_a_stack_whose_children_keep_its_stdout_open_cannot_hang_the_wait(spawn) -> None:
    # The child leaves a grandchild holding the pipe: reading stdout to its end would wait for it.
    process = spawn("import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="was not ready within 1 s"):
        StackOutput(process).ready(timeout=1)
    assert time.monotonic() - started < 10


def test_a_stack_that_exits_before_ready_says_so_with_its_exit_code(spawn) -> None:
    process = spawn("import sys; print('boom'); sys.exit(3)")
    with pytest.raises(RuntimeError, match=r"^the local stack stopped before it was ready \(exit code 3\)$"):
        StackOutput(process).ready(timeout=30)
