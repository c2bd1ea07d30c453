"""How long each function's `import app` takes in a fresh interpreter, against `import boto3`.

    .venv/bin/python -m benchmarks.cold_start [--runs 7] [--importtime worker]

A Lambda cold start pays for the handler module's imports before the first event: this times
`import app` for every function in `functions/`, each in a new interpreter with the function's
own directory, `layers/vectorizer` and the layer's dependencies on `sys.path` (as Lambda puts the
code and the layer), and with a Lambda-like environment (tracing on, as the template has it), so
Powertools builds what it builds in AWS. The layer's dependencies are installed once from
`layers/vectorizer/requirements.txt` into `.aws-sam/cold-start-layer` (pip, `--target`), and the
interpreter runs with `-S`: the development virtualenv's extras (moto, sqlalchemy...) are not
seen, since X-Ray's `patch_all` would import every library it knows that it finds. The reference
is `import boto3` alone in the same kind of interpreter, the least any of them needs. Each figure
is the median of `--runs` runs; only ratios are meaningful, since the machine may be busy with
other work.

`--importtime NAME` prints the slowest modules of one function's import (`python -X importtime`,
cumulative microseconds), to see what dominates.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "vectorizer"
LAYER_SITE = ROOT / ".aws-sam" / "cold-start-layer"
FUNCTIONS = ("api", "worker", "authorizer", "dead_letter", "notifier", "sweeper")

# Times the import itself, inside the child, so the interpreter's own start is not counted.
TIMED_IMPORT = (
    "import sys, time\n"
    "sys.path[:0] = {paths!r}\n"
    "start = time.perf_counter()\n"
    "import {module}\n"
    "print((time.perf_counter() - start) * 1000)\n"
)


def lambda_environment() -> dict[str, str]:
    """The environment a deployed function starts with, as far as its imports can see it.

    Takes nothing; returns this process's environment plus the variables Lambda and the template
    set (region, function name, task root, X-Ray's daemon address, Powertools' names) and placeholder
    resource names, so settings read at import (if any) find what they need.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_LAMBDA_FUNCTION_NAME="cold-start-benchmark",
        LAMBDA_TASK_ROOT=str(ROOT),
        AWS_EXECUTION_ENV="AWS_Lambda_python3.11",
        AWS_XRAY_DAEMON_ADDRESS="169.254.79.129:2000",
        _X_AMZN_TRACE_ID="Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
        POWERTOOLS_SERVICE_NAME="vectorizer",
        POWERTOOLS_METRICS_NAMESPACE="Vectorizer",
        JOBS_TABLE="jobs",
        VECTORS_TABLE="vectors",
        WORK_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/000000000000/work",
        DEAD_LETTER_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/000000000000/dead",
    )
    return env


def layer_site() -> Path:
    """The layer's dependencies, installed once into `LAYER_SITE` with pip; returns that directory."""
    if not (LAYER_SITE / "boto3").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(LAYER_SITE),
             "-r", str(LAYER / "requirements.txt")],
            check=True,
        )
    return LAYER_SITE


def import_ms(module: str, paths: list[str], env: dict[str, str]) -> float:
    """Milliseconds `import module` took in a fresh interpreter with `paths` first on `sys.path`."""
    code = TIMED_IMPORT.format(paths=paths, module=module)
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def median_ms(module: str, paths: list[str], env: dict[str, str], runs: int) -> float:
    """The median of `runs` fresh-interpreter imports of `module`, in milliseconds."""
    return statistics.median(import_ms(module, paths, env) for _ in range(runs))


def function_paths(name: str) -> list[str]:
    """What Lambda puts on `sys.path` for function `name`: its code, then the layer and its dependencies."""
    return [str(ROOT / "functions" / name), str(LAYER), str(layer_site())]


def slowest_imports(name: str, env: dict[str, str], top: int = 25) -> list[tuple[int, str]]:
    """The `top` top-level-ish modules by cumulative import time (us) for function `name`'s app."""
    code = f"import sys\nsys.path[:0] = {function_paths(name)!r}\nimport app\n"
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, module = (part.strip() for part in line.removeprefix("import time:").split("|"))
        rows.append((int(cumulative), module))
    return sorted(rows, reverse=True)[:top]


def import_times(runs: int, env: dict[str, str] | None = None) -> tuple[float, dict[str, float]]:
    """Takes the number of runs and an environment (default: `lambda_environment()`); returns the
    median milliseconds of `import boto3` alone and of each function's `import app`, by function name.
    """
    env = env or lambda_environment()
    boto3_ms = median_ms("boto3", [str(layer_site())], env, runs)
    return boto3_ms, {name: median_ms("app", function_paths(name), env, runs) for name in FUNCTIONS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--importtime", choices=FUNCTIONS, help="print the slowest imports of one function")
    args = parser.parse_args()
    env = lambda_environment()
    if args.importtime:
        for cumulative, module in slowest_imports(args.importtime, env):
            print(f"{cumulative / 1000:9.1f} ms  {module}")
        return
    boto3_ms, times = import_times(args.runs, env)
    print(f"median of {args.runs} fresh interpreters each\n")
    print("| import | ms | x boto3 |")
    print("| --- | ---: | ---: |")
    print(f"| boto3 | {boto3_ms:.0f} | 1.00 |")
    for name, ms in times.items():
        print(f"| {name} | {ms:.0f} | {ms / boto3_ms:.2f} |")

if __name__ == "__main__":
    main()
