"""Stopping processes the same way everywhere: a child is asked first and killed if it will not
go; a long-running one stops when told to or when the process that started it is gone."""

from __future__ import annotations

import os
import subprocess
import time


def stop(process: subprocess.Popen, grace_seconds: float = 10) -> None:
    """Terminate `process`, wait up to `grace_seconds` for it, then kill it; returns once it is gone."""
    process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class StopRequest:
    """A stop asked for by a signal handler. Asking takes no lock: a handler that sets a
    `threading.Event` runs in the main thread and can land while that thread holds the Event's own
    lock inside `wait()`, and then waits for itself for ever (seen: a model endpoint that never
    stopped after its stack was killed)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, *_: object) -> None:
        """Usable as a signal handler: takes (signum, frame) and returns nothing."""
        self.requested = True


def wait_for_stop_or_orphaning(stop: StopRequest, parent: int, interval: float) -> bool:
    """Wait until `stop` is requested or this process's parent is no longer `parent` (its pid at
    start); returns True when it is the parent that went. Sleeping in steps keeps the main thread
    responsive to signals, and watching the parent covers a death signal that never comes."""
    while not stop.requested:
        if os.getppid() != parent:
            return True
        time.sleep(interval)
    return False
