"""A cold start imports only what the handler needs before its first event.

Each function's `app` is imported in a fresh interpreter, with the function's directory and the
layer on `sys.path` as Lambda has them and a Lambda-like environment with tracing on (so
Powertools builds what it would build in AWS), and the test lists which heavy modules got loaded.
What is asserted is which modules are loaded, never how long anything took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "vectorizer"

# Loaded at the first event that needs them: httpx for the first HF request or callback, boto3
# for the first AWS client, aws_xray_sdk for the first traced call.
LAZY = ("httpx", "boto3", "aws_xray_sdk")

LOADED_AFTER_IMPORT = (
    "import json, sys\n"
    "sys.path[:0] = {paths!r}\n"
    "import app\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)
OPENAPI_MODELS = "aws_lambda_powertools.event_handler.openapi.models"


def modules_after_import(function: str) -> set[str]:
    """The names in `sys.modules` after `import app` of `function` in a fresh interpreter."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_LAMBDA_FUNCTION_NAME=function,
        LAMBDA_TASK_ROOT=str(ROOT / "functions" / function), POWERTOOLS_SERVICE_NAME="vectorizer",
        POWERTOOLS_METRICS_NAMESPACE="Vectorizer",
    )
    code = LOADED_AFTER_IMPORT.format(paths=[str(ROOT / "functions" / function), str(LAYER)])
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def top_level_modules_after_import(function: str) -> set[str]:
    """The top-level packages in `sys.modules` after `import app` of `function` in a fresh interpreter."""
    return {name.split(".")[0] for name in modules_after_import(function)}


@pytest.mark.parametrize("function", ["worker", "api", "dead_letter", "notifier", "sweeper", "authorizer"])
def test_importing_a_handler_loads_neither_httpx_nor_boto3_nor_the_xray_sdk(function: str) -> None:
    loaded = top_level_modules_after_import(function)

    assert sorted(loaded & set(LAZY)) == []


def test_the_worker_still_loads_what_it_needs_before_its_first_event() -> None:
    loaded = top_level_modules_after_import("worker")

    assert {"app", "vectorizer", "aws_lambda_powertools", "pydantic"} <= loaded


def test_importing_the_api_handler_leaves_the_openapi_models_for_the_first_request() -> None:
    loaded = modules_after_import("api")

    assert OPENAPI_MODELS not in loaded
    assert "aws_lambda_powertools.event_handler.api_gateway" in loaded
