"""Stopping a child process the same way everywhere: asked first, killed if it will not go."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen, grace_seconds: float = 10) -> None:
    """Terminate `process`, wait up to `grace_seconds` for it, then kill it; returns once it is gone."""
    process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
