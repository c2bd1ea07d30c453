"""One function's container: a process with the function's code and the layer on its path.

The local stack starts one of these per concurrent invocation slot, with the function's own
environment, and hands it invocations over a pipe, one JSON line each way. Like a warm Lambda
container it keeps its module state (clients, caches) between invocations; the function's own
log lines go to stderr, as CloudWatch would collect them, so stdout carries only results.

    python -m local.runtime functions/api app.lambda_handler
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path

from local.faults import install_from_environment
from local.lambda_context import LocalContext

ROOT = Path(__file__).resolve().parent.parent
LAYER_PATH = ROOT / "layers" / "vectorizer"


def serve(function_dir: str, handler_path: str) -> None:
    results = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    # Everything the function prints (Powertools logs to stdout) goes to stderr instead.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.path[:0] = [str(Path(function_dir).resolve()), str(LAYER_PATH)]
    install_from_environment()  # LOCAL_FAULTS_FILE: before the handler's module makes its clients
    module_name, _, function_name = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", Path(function_dir).name)
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "30"))
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
    results.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        invocation = json.loads(line)
        context = LocalContext(name, timeout, memory_limit_in_mb=memory, aws_request_id=invocation["requestId"])
        try:
            answer = {"result": handler(invocation["event"], context)}
        except Exception as error:  # reported as Lambda reports a function error
            traceback.print_exc()
            answer = {"error": {"errorType": type(error).__name__, "errorMessage": str(error)}}
        results.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
