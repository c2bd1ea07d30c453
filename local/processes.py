"""Stopping processes the same way everywhere: a child is asked first and killed if it will not
go; a long-running one stops when told to or when the process that started it is gone."""

from __future__ import annotations

import os
import subprocess
import threading


def stop(process: subprocess.Popen, grace_seconds: float = 10) -> None:
    """Terminate `process`, wait up to `grace_seconds` for it, then kill it; returns once it is gone."""
    process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_stop_or_orphaning(stop: threading.Event, parent: int, interval: float) -> bool:
    """Wait until `stop` is set or this process's parent is no longer `parent` (its pid at start);
    returns True when it is the parent that went. The timed wait keeps the main thread responsive
    to signals, and watching the parent covers a death signal that never comes."""
    while not stop.wait(interval):
        if os.getppid() != parent:
            return True
    return False
