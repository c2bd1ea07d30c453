"""Stopping local processes: a child asked then killed; a long-running one told to stop or orphaned."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from local import processes
from local.processes import StopRequest, stop, wait_for_stop_or_orphaning


def test_a_stop_request_ends_the_wait_and_says_the_parent_is_still_there() -> None:
    request = StopRequest()
    threading.Timer(0.1, request, args=(15, None)).start()
    assert wait_for_stop_or_orphaning(request, os.getppid(), interval=0.02) is False


def test_a_parent_other_than_the_one_at_start_ends_the_wait_as_orphaned(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(processes.time, "sleep", slept.append)
    assert wait_for_stop_or_orphaning(StopRequest(), parent=-1, interval=0.02) is True
    assert slept == []  # seen at the first look, before any sleep


def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    child = subprocess.Popen([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                              "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    stop(child, grace_seconds=0.2)
    assert child.returncode == -9
