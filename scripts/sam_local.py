"""Plumbing for `sam local invoke` against the local stack: env-vars files, the invoke, its answer.

The checks themselves are pytest tests (tests/sam_local/, marker `sam_local`, run by
`make sam-local`); this module only knows how to

1. point a function container at the local stack: each function's environment from the template
   (Globals, then the function's own), resolved against the stack the local stack deployed in
   moto, with loopback URLs rewritten to `host.docker.internal` (the container reaches the host
   through docker0, where the stack also listens);
2. make sure the template declares every variable the containers need (SAM's `--env-vars` drops
   an override for an undeclared variable without a word);
3. run `sam local invoke` for one event and read the function's answer from its stdout.

Needs a Docker engine (scripts/docker-engine.sh start), the base image
`public.ecr.aws/lambda/python:3.11-x86_64` (offline: scripts/standin-image.sh) and `sam build`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3

from local.launcher import REAL_AWS_SETTINGS, ReadyStack
from local.template_stack import DeployedStack, read_stack

ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = "vectorizer-local"  # the name local.stack deploys the template's resources under
CONTAINER_HOST = "host.docker.internal"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                     "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
FUNCTIONS = ("ApiFunction", "WorkerFunction", "DeadLetterFunction", "NotifierFunction", "SweeperFunction",
             "SplitterFunction")
# Variables the containers must get. SAM's --env-vars only overrides variables the template
# declares: one it does not declare is dropped without a word, hence `plan_template`.
REQUIRED_OVERRIDES = ("AWS_ENDPOINT_URL", "HF_API_BASE_URL")

AwsClients = Callable[[str], Any]


class InvokeFailed(AssertionError):
    """`sam local invoke` did not give a function answer (it failed, timed out, or printed no JSON)."""


def say(message: str) -> None:
    """One line on stderr, prefixed, for what the plumbing decided on its own."""
    print(f"sam-local: {message}", file=sys.stderr, flush=True)


def container_url(url: str) -> str:
    """A URL the host reaches on loopback, as a function container reaches it (through docker0).

    Any other URL comes back unchanged.
    """
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        netloc = CONTAINER_HOST + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def aws_clients(moto_url: str) -> AwsClients:
    """A factory of boto3 clients on the local stack's moto, with dummy credentials (never a real profile)."""

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_url, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    return client


def attach(aws: AwsClients, stack_name: str = STACK_NAME) -> DeployedStack:
    """The stack local.stack deployed in moto, read back, to resolve the template's intrinsics with."""
    return read_stack(aws("cloudformation"), stack_name)


def read_default_token(deployed: DeployedStack, aws: AwsClients) -> str | None:
    """The local stack's default HF token, from the moto secret the template's ApiFunction names; None without one."""
    arn = deployed.environment("ApiFunction").get("HUGGINGFACE_APIKEY_SECRET_ARN")
    if not arn:
        return None
    return aws("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]


def function_overrides(deployed: DeployedStack, function: str, ready: ReadyStack,
                       default_token: str | None) -> dict[str, str]:
    """The function's template environment, resolved, with the container's view of the local stack.

    Takes the deployed stack, the function's logical id, the ready stack's URLs and the default
    token; returns the variables for that function's entry of an `--env-vars` file.
    """
    env = deployed.environment(function)
    model_url = container_url(ready.model)
    overrides = {name: container_url(value) if value.startswith("http") else value for name, value in env.items()}
    overrides["AWS_ENDPOINT_URL"] = container_url(ready.moto)
    overrides["HF_API_BASE_URL"] = model_url
    if "ENDPOINT_URL_ALLOWED_HOSTS" in env and model_url.startswith("http://"):
        # An endpointURL naming the local model endpoint (http, so it must be listed with its scheme).
        origin = urlunsplit(urlsplit(model_url)._replace(path="", query="", fragment=""))
        overrides["ENDPOINT_URL_ALLOWED_HOSTS"] = f"{env['ENDPOINT_URL_ALLOWED_HOSTS']},{origin}"
    # The default token: the local stack keeps it in a moto secret, which the functions read through
    # HUGGINGFACE_APIKEY_SECRET_ARN (resolved above). It is written as HUGGINGFACE_APIKEY too, which
    # SAM passes on only if the template declares that variable.
    if default_token:
        overrides["HUGGINGFACE_APIKEY"] = default_token
    return overrides


def write_env_vars(path: Path, overrides: Mapping[str, Mapping[str, str]]) -> Path:
    """Write `{function: {name: value}}` as a `sam local invoke --env-vars` file at `path`; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(overrides, indent=2) + "\n")
    return path


def declared_variables(template: Mapping[str, Any], function: str) -> set[str]:
    """The environment variable names the template declares for `function` (Globals and its own)."""
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][function].get("Properties", {}).get("Environment", {}).get("Variables", {})
    return set(global_env) | set(own)


def plan_template(built: Path) -> Path:
    """The template to invoke: `built` itself, or, when it does not declare a variable of
    REQUIRED_OVERRIDES for every function (SAM would drop its override silently), a copy beside it
    (`template.sam-local.json`, so CodeUri/ContentUri stay relative) that declares it, empty, in Globals.
    """
    from cfnlint.decode import cfn_yaml

    template = json.loads(json.dumps(cfn_yaml.load(str(built))))
    missing = sorted({name for function in FUNCTIONS if function in template["Resources"]
                      for name in REQUIRED_OVERRIDES if name not in declared_variables(template, function)})
    if not missing:
        return built
    say(f"{built} does not declare {', '.join(missing)}: `sam local invoke --env-vars` cannot set them. "
        "Invoking a copy that declares them (empty) in Globals.Function.Environment.Variables; "
        "declaring them in template.yaml makes the copy unnecessary.")
    variables = template.setdefault("Globals", {}).setdefault("Function", {}).setdefault(
        "Environment", {}).setdefault("Variables", {})
    for name in missing:
        variables[name] = ""
    derived = built.with_name("template.sam-local.json")
    derived.write_text(json.dumps(template, indent=1))
    return derived


def sam_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The SAM CLI's environment: `environ` without a real AWS profile, with dummy credentials, quiet.

    SAM hands its own credentials to the containers, so they must be the dummy ones.
    """
    env = {name: value for name, value in environ.items() if name not in REAL_AWS_SETTINGS}
    return {**env, **DUMMY_CREDENTIALS, "SAM_CLI_TELEMETRY": "0", "PYTHONUNBUFFERED": "1"}


def invoke_command(sam: Path, function: str, event: Path, template: Path, env_vars: Path) -> list[str]:
    """The `sam local invoke` command line for one event, with the base image as it is (no pull)."""
    return [str(sam), "local", "invoke", function, "-e", str(event), "--skip-pull-image",
            "--add-host", f"{CONTAINER_HOST}:host-gateway", "--env-vars", str(env_vars), "--template", str(template)]


def function_answer(stdout: str) -> Any:
    """The function's answer, decoded: `sam local invoke` prints it as JSON on stdout (its own logs
    go to stderr), as the whole output or its last JSON line. Raises InvokeFailed when there is none.
    """
    text = stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    for line in reversed(text.splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    raise InvokeFailed(f"no JSON answer on stdout: {text[-300:]!r}")


@dataclass(frozen=True)
class Invocation:
    """One `sam local invoke`: the function's decoded answer, how long it took, where its logs are."""

    answer: Any
    seconds: float
    stderr_log: Path


def invoke(command: list[str], *, env: Mapping[str, str], log_dir: Path, name: str, timeout: float) -> Invocation:
    """Run one `sam local invoke` command line (from `invoke_command`) in the project root.

    Its stdout and stderr are kept as `<name>.stdout.log` / `<name>.stderr.log` in `log_dir`.
    Raises InvokeFailed when it times out, exits non-zero, prints no JSON, or the function raised
    (Lambda's `{"errorType": ...}` answer).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_log = log_dir / f"{name}.stderr.log"
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, env=dict(env), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        raise InvokeFailed(f"sam local invoke timed out after {timeout:g} s") from expired
    seconds = time.monotonic() - started
    stderr_log.write_text(done.stderr)
    (log_dir / f"{name}.stdout.log").write_text(done.stdout)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-8:])
        raise InvokeFailed(f"sam exited {done.returncode}: {tail} (log: {stderr_log})")
    answer = function_answer(done.stdout)
    if isinstance(answer, dict) and "errorType" in answer:
        raise InvokeFailed(f"the function failed: {json.dumps(answer)[:300]} (log: {stderr_log})")
    return Invocation(answer, seconds, stderr_log)
