"""`sam local invoke` of every event in events/, against the local stack, with each answer checked.

    .venv/bin/python scripts/sam_local.py            # what `make sam-local` runs, after `sam build`

Needs a Docker engine (scripts/docker-engine.sh start), the base image
`public.ecr.aws/lambda/python:3.11-x86_64` (offline: scripts/standin-image.sh) and `sam build`.

1. starts the local stack (`python -m local.stack`) and waits for its `ready` line; with Docker up
   it listens on the docker0 address too, where the function containers find it as
   `host.docker.internal`;
2. reads each function's environment from the template (Globals, then the function's own),
   resolved against the stack the local stack deployed in moto, and writes an `--env-vars` file
   pointing the containers at that moto and model endpoint;
3. invokes every event, in an order where the worker's chunk runs before the GET /jobs events,
   and checks each answer against the one events/README.md documents;
4. prints one line per event (PASS/FAIL, seconds), stops the stack, exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.launcher import REAL_AWS_SETTINGS, ReadyStack, started_stack  # noqa: E402
from local.template_stack import DeployedStack, read_stack  # noqa: E402

STACK_NAME = "vectorizer-local"  # the name local.stack deploys the template's resources under
CONTAINER_HOST = "host.docker.internal"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
JOB_ID = "sam-local-job-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                     "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
FUNCTIONS = ("ApiFunction", "WorkerFunction")
# Variables the containers must get. SAM's --env-vars only overrides variables the template
# declares: one it does not declare is dropped without a word, hence the check in `plan_template`.
REQUIRED_OVERRIDES = ("AWS_ENDPOINT_URL", "HF_API_BASE_URL")


def say(message: str) -> None:
    print(f"sam-local: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The functions' environment, from the template and the deployed stack
# ---------------------------------------------------------------------------------------------


def container_url(url: str) -> str:
    """A URL the host reaches on loopback, as a function container reaches it (through docker0)."""
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        netloc = CONTAINER_HOST + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def attach(ready: ReadyStack, stack_name: str) -> DeployedStack:
    """The stack local.stack deployed in moto, read back, to resolve the template's intrinsics with."""
    cloudformation = boto3.client("cloudformation", endpoint_url=ready.moto, region_name="us-east-1",
                                  aws_access_key_id="local", aws_secret_access_key="local")
    return read_stack(cloudformation, stack_name)


def function_overrides(deployed: DeployedStack, function: str, ready: ReadyStack,
                       default_token: str | None) -> dict[str, str]:
    """The function's template environment, resolved, with the container's view of the local stack."""
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


def read_default_token(deployed: DeployedStack, aws: Callable[[str], Any]) -> str | None:
    arn = deployed.environment("ApiFunction").get("HUGGINGFACE_APIKEY_SECRET_ARN")
    if not arn:
        return None
    return aws("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]


def declared_variables(template: dict[str, Any], function: str) -> set[str]:
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][function].get("Properties", {}).get("Environment", {}).get("Variables", {})
    return set(global_env) | set(own)


def plan_template(built: Path, overrides: dict[str, dict[str, str]]) -> Path:
    """The template to invoke: the built one, or, when it does not declare a variable the containers
    need (SAM would drop its override silently), a copy beside it that declares it."""
    from cfnlint.decode import cfn_yaml

    template = json.loads(json.dumps(cfn_yaml.load(str(built))))
    missing = sorted({name for function in FUNCTIONS for name in REQUIRED_OVERRIDES
                      if name not in declared_variables(template, function)})
    if not missing:
        return built
    say(f"{built} does not declare {', '.join(missing)}: `sam local invoke --env-vars` cannot set "
        f"{'it' if len(missing) == 1 else 'them'}. Invoking a copy that declares "
        f"{'it' if len(missing) == 1 else 'them'} (empty) in Globals.Function.Environment.Variables; "
        f"declaring {'it' if len(missing) == 1 else 'them'} in template.yaml makes the copy unnecessary.")
    variables = template.setdefault("Globals", {}).setdefault("Function", {}).setdefault(
        "Environment", {}).setdefault("Variables", {})
    for name in missing:
        variables[name] = ""
    derived = built.with_name("template.sam-local.json")  # beside it: CodeUri/ContentUri stay relative
    derived.write_text(json.dumps(template, indent=1))
    return derived


# ---------------------------------------------------------------------------------------------
# The checks: one per event, as events/README.md documents them
# ---------------------------------------------------------------------------------------------


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclass
class Context:
    ready: ReadyStack
    env: dict[str, dict[str, str]]
    aws: Callable[[str], Any]
    notes: list[str] = field(default_factory=list)


def http(answer: Any) -> tuple[int, dict[str, str], Any]:
    """(status, headers, decoded body) of an API Gateway proxy answer."""
    expect(isinstance(answer, dict) and "statusCode" in answer, f"not a proxy answer: {_short(answer)}")
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        if values:
            headers.setdefault(name.lower(), values[-1])
    body = answer.get("body")
    try:
        decoded = json.loads(body) if body else None
    except json.JSONDecodeError:
        decoded = body
    return int(answer["statusCode"]), headers, decoded


def expect_status(answer: Any, status: int) -> tuple[dict[str, str], Any]:
    got, headers, body = http(answer)
    expect(got == status, f"status {got}, expected {status}: {_short(body)}")
    return headers, body


def expect_error(answer: Any, status: int, code: str, error: str | None = None) -> None:
    _, body = expect_status(answer, status)
    expect(isinstance(body, dict) and body.get("code") == code, f"code {_short(body)}, expected {code!r}")
    expect(isinstance(body.get("error"), str) and body["error"], "no error message")
    if error is not None:
        expect(body["error"] == error, f"error {body['error']!r}, expected {error!r}")


def expect_vectors(vectors: Any, count: int, dimensions: int) -> None:
    expect(isinstance(vectors, list) and len(vectors) == count, f"{_short(vectors)}: expected {count} vectors")
    for vector in vectors:
        expect(isinstance(vector, list) and len(vector) == dimensions
               and all(isinstance(x, (int, float)) for x in vector), f"a vector is not {dimensions} numbers")


def check_health(answer: Any, ctx: Context) -> None:
    _, body = expect_status(answer, 200)
    expect(body == {"status": "ok"}, f"body {_short(body)}")


def check_sync(answer: Any, ctx: Context) -> None:
    _, body = expect_status(answer, 200)
    expect(body.get("model") == MODEL, f"model {body.get('model')!r}")
    expect(body.get("dimensions") == DIMENSIONS, f"dimensions {body.get('dimensions')!r}, expected {DIMENSIONS}")
    expect_vectors(body.get("vectors"), 3, DIMENSIONS)
    expect(body.get("ids") == ["fox", "weaviate", "embeddings"], f"ids {body.get('ids')!r}")


def check_async(answer: Any, ctx: Context) -> None:
    headers, body = expect_status(answer, 202)
    job_id = body.get("jobId")
    expect(isinstance(job_id, str) and job_id, f"no jobId: {_short(body)}")
    expect({k: body.get(k) for k in ("status", "total", "chunks")} == {"status": "queued", "total": 5, "chunks": 1},
           f"body {_short(body)}")
    expect(headers.get("location") == f"/jobs/{job_id}", f"Location {headers.get('location')!r}")
    # The chunk landed on the work queue with the caller's token sealed: the local stack's event
    # source feeds it to its worker, which must unseal the token and finish the job.
    status = _wait_for_job(ctx, job_id, timeout=120)
    expect(status.get("status") == "succeeded" and status.get("succeeded") == 5,
           f"job {job_id} ended {_short(status)}")
    ctx.notes.append(f"job {job_id} finished by the local stack's worker")


def _wait_for_job(ctx: Context, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{ctx.ready.api}/jobs/{job_id}", timeout=30)
        if response.status_code == 200:
            status = response.json()
            if status.get("status") in ("succeeded", "failed", "partial"):
                return status
        time.sleep(1)
    return status or {"status": "not found within the timeout"}


def check_hf_feature_extraction(answer: Any, ctx: Context) -> None:
    # Hugging Face's own answer: a bare 2-D array, one vector per input, in input order.
    _, body = expect_status(answer, 200)
    expect_vectors(body, 2, DIMENSIONS)


def check_openai_embeddings(answer: Any, ctx: Context) -> None:
    _, body = expect_status(answer, 200)
    expect(body.get("object") == "list" and body.get("model") == MODEL, f"body {_short(body)}")
    data = body.get("data")
    expect(isinstance(data, list) and [(d.get("object"), d.get("index")) for d in data]
           == [("embedding", 0), ("embedding", 1)], f"data {_short(data)}")
    expect_vectors([d.get("embedding") for d in data], 2, DIMENSIONS)
    usage = body.get("usage") or {}
    expect(isinstance(usage.get("prompt_tokens"), int) and usage["prompt_tokens"] > 0
           and usage.get("total_tokens") == usage["prompt_tokens"], f"usage {usage}")


def check_bad_config(answer: Any, ctx: Context) -> None:
    expect_error(answer, 400, "invalid_config",
                 "config: only one setting must be set either 'model' or 'passageModel' with 'queryModel'")


def check_no_token(answer: Any, ctx: Context) -> None:
    env = ctx.env["ApiFunction"]
    if env.get("HUGGINGFACE_APIKEY") or env.get("HUGGINGFACE_APIKEY_SECRET_ARN"):
        _, body = expect_status(answer, 200)  # vectorized with the local stack's default token
        expect(body.get("model") == MODEL, f"model {body.get('model')!r}")
        expect_vectors(body.get("vectors"), 1, DIMENSIONS)
    else:
        expect_error(answer, 401, "missing_token")


def check_worker_chunk(answer: Any, ctx: Context) -> None:
    expect(answer == {"batchItemFailures": []}, f"answer {_short(answer)}")


def check_get_job(answer: Any, ctx: Context) -> None:
    _, body = expect_status(answer, 200)
    want = {"jobId": JOB_ID, "status": "succeeded", "total": 3, "succeeded": 3, "failed": 0, "errors": []}
    expect({k: body.get(k) for k in want} == want, f"body {_short(body)}")
    expect(body.get("model") == MODEL, f"model {body.get('model')!r}")
    expect(body.get("dimensions") == DIMENSIONS, f"dimensions {body.get('dimensions')!r}")
    expect(all(body.get(k) for k in ("createdAt", "updatedAt")), "no createdAt/updatedAt")


def check_get_job_vectors(answer: Any, ctx: Context) -> None:
    _, body = expect_status(answer, 200)
    items = body.get("items")
    expect(isinstance(items, list) and [item.get("index") for item in items] == [0, 1], f"items {_short(items)}")
    expect([item.get("id") for item in items] == ["item-0", "item-1"], f"ids {[i.get('id') for i in items]}")
    expect_vectors([item.get("vector") for item in items], 2, DIMENSIONS)
    expect(isinstance(body.get("nextToken"), str) and body["nextToken"], f"nextToken {body.get('nextToken')!r}")


def check_not_found(answer: Any, ctx: Context) -> None:
    expect_error(answer, 404, "job_not_found")


def parked_identity(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict) and "jobId" in data:
        return f"job {data['jobId']} chunk {data.get('chunk')}"
    return body


def check_invalid_message(answer: Any, ctx: Context) -> None:
    expect(answer == {"batchItemFailures": []}, f"answer {_short(answer)}")
    event = json.loads((ROOT / "events" / "worker-invalid-message.json").read_text())
    bodies = [record["body"] for record in event["Records"]]
    # The worker parks a JSON message without the keys the schema does not know (one could be a
    # stray token), so a parked copy is matched to its original by job and chunk, not byte for byte.
    originals = {parked_identity(body): body for body in bodies}
    sqs = ctx.aws("sqs")
    dlq_url = ctx.env["WorkerFunction"]["DEAD_LETTER_QUEUE_URL"]
    reasons: dict[str, str] = {}
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    # Look without taking: each message read goes back at once (visibility timeout 0).
    while len(reasons) < len(bodies) and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            if message["MessageId"] in seen:
                continue
            seen.add(message["MessageId"])
            original = originals.get(parked_identity(message["Body"]))
            if original is not None:
                reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
                reasons[original] = reason
                parked = message["Body"]
                expect("colour" not in parked, f"a key outside the schema was parked: {parked[:80]!r}")
    for body in bodies:
        expect(body in reasons, f"not on the dead-letter queue: {body[:60]!r}")
        expect(bool(reasons[body]), f"parked without a reason attribute: {body[:60]!r}")
    ctx.notes.append("dead-letter reasons: " + " | ".join(r[:100] for r in reasons.values()))


@dataclass(frozen=True)
class Case:
    event: str
    function: str
    check: Callable[[Any, Context], None]


# The order matters: worker-chunk creates the job the GET /jobs events read.
CASES = [
    Case("api-health.json", "ApiFunction", check_health),
    Case("api-vectorize-bad-config.json", "ApiFunction", check_bad_config),
    Case("api-get-job-not-found.json", "ApiFunction", check_not_found),
    Case("api-vectorize-sync.json", "ApiFunction", check_sync),
    Case("api-vectorize-no-token.json", "ApiFunction", check_no_token),
    Case("api-hf-feature-extraction.json", "ApiFunction", check_hf_feature_extraction),
    Case("api-openai-embeddings.json", "ApiFunction", check_openai_embeddings),
    Case("api-vectorize-async.json", "ApiFunction", check_async),
    Case("worker-chunk.json", "WorkerFunction", check_worker_chunk),
    Case("api-get-job.json", "ApiFunction", check_get_job),
    Case("api-get-job-vectors.json", "ApiFunction", check_get_job_vectors),
    Case("worker-invalid-message.json", "WorkerFunction", check_invalid_message),
]


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------------------------
# Invoking
# ---------------------------------------------------------------------------------------------


def function_answer(stdout: str) -> Any:
    """The function's answer: `sam local invoke` prints it on stdout (its own logs go to stderr)."""
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
    raise CheckFailed(f"no JSON answer on stdout: {_short(text)}")


@dataclass
class Result:
    event: str
    passed: bool
    seconds: float
    detail: str = ""


def invoke(case: Case, args: argparse.Namespace, template: Path, env_file: Path, sam_env: dict[str, str],
           ctx: Context, log_dir: Path) -> Result:
    command = [args.sam, "local", "invoke", case.function, "-e", f"events/{case.event}",
               "--skip-pull-image", "--add-host", f"{CONTAINER_HOST}:host-gateway",
               "--env-vars", str(env_file), "--template", str(template)]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, env=sam_env, capture_output=True, text=True,
                              timeout=args.invoke_timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Result(case.event, False, time.monotonic() - started,
                      f"sam local invoke timed out ({args.invoke_timeout:.0f} s)")
    seconds = time.monotonic() - started
    (log_dir / f"{case.event}.stderr.log").write_text(done.stderr)
    (log_dir / f"{case.event}.stdout.log").write_text(done.stdout)
    if done.returncode != 0:
        return Result(case.event, False, seconds, f"sam exited {done.returncode}: {_tail(done.stderr)}")
    try:
        answer = function_answer(done.stdout)
        if isinstance(answer, dict) and "errorType" in answer:
            raise CheckFailed(f"the function failed: {_short(answer)}")
        before = len(ctx.notes)
        case.check(answer, ctx)
        detail = "; ".join(ctx.notes[before:])
    except CheckFailed as failure:
        return Result(case.event, False, time.monotonic() - started,
                      f"{failure} (function log: {log_dir / (case.event + '.stderr.log')})")
    except Exception as error:  # a check that crashed is a failure of that event, not of the run
        return Result(case.event, False, time.monotonic() - started, f"{type(error).__name__}: {error}")
    return Result(case.event, True, seconds, detail)


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"), help="the SAM CLI")
    parser.add_argument("--template", default=".aws-sam/build/template.yaml", help="the built template")
    parser.add_argument("--stack-name", default=STACK_NAME, help="the CloudFormation stack local.stack deploys")
    parser.add_argument("--stack-timeout", type=float, default=600, help="seconds to wait for `ready`")
    parser.add_argument("--invoke-timeout", type=float, default=420, help="seconds for one `sam local invoke`")
    parser.add_argument("--work-dir", default=".aws-sam/sam-local", help="env-vars file and logs go here")
    parser.add_argument("events", nargs="*", help="only these events (file names in events/)")
    args = parser.parse_args()

    total_started = time.monotonic()
    template = (ROOT / args.template).resolve()
    if not template.exists():
        say(f"{template} is missing: run `sam build` first")
        return 2
    work_dir = (ROOT / args.work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)

    on_disk = sorted(path.name for path in (ROOT / "events").glob("*.json"))
    known = {case.event for case in CASES}
    cases = [case for case in CASES if case.event in on_disk]
    unknown = [name for name in on_disk if name not in known]
    missing = sorted(known - set(on_disk))
    if args.events:
        cases = [case for case in cases if case.event in args.events]
        unknown = [name for name in unknown if name in args.events]

    # Dummy credentials for everything: the stack, boto3 here, and SAM (which hands its own
    # credentials to the containers); never a real profile.
    base_env = {k: v for k, v in os.environ.items() if k not in REAL_AWS_SETTINGS}
    base_env.update(DUMMY_CREDENTIALS)
    base_env["SAM_CLI_TELEMETRY"] = "0"
    base_env["PYTHONUNBUFFERED"] = "1"

    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so that the local stack is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    results: list[Result] = []
    log_path = work_dir / "stack.log"
    try:
        started = time.monotonic()
        say(f"starting the local stack (log {log_path})")
        with started_stack(env={**DUMMY_CREDENTIALS, "PYTHONUNBUFFERED": "1"}, bridge=True, log_path=log_path,
                           ready_timeout=args.stack_timeout) as ready:
            say(f"local stack ready in {time.monotonic() - started:.1f} s: moto={ready.moto} model={ready.model} "
                f"bridge={ready.bridge or '-'}")
            if ready.bridge is None:
                say("the local stack does not listen on the docker bridge (no docker0: is the engine running?)")
                return 2
            results = run_events(args, ready, cases, unknown, missing, template, work_dir, base_env)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Exception as error:
        say(f"{type(error).__name__}: {error}")
        return 1

    failed = [result for result in results if not result.passed]
    invoke_seconds = sum(result.seconds for result in results)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed "
          f"(invokes {invoke_seconds:.1f} s, total {time.monotonic() - total_started:.1f} s)", flush=True)
    return 1 if failed or not results else 0


def run_events(args: argparse.Namespace, ready: ReadyStack, cases: list[Case], unknown: list[str],
               missing: list[str], template: Path, work_dir: Path, base_env: dict[str, str]) -> list[Result]:
    """Point the containers at the ready stack and invoke every case, printing each result."""

    def aws(service: str) -> Any:
        return boto3.client(service, endpoint_url=ready.moto, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    deployed = attach(ready, args.stack_name)
    token = read_default_token(deployed, aws)
    env = {function: function_overrides(deployed, function, ready, token) for function in FUNCTIONS}
    queue = env["ApiFunction"].get("WORK_QUEUE_URL", "")
    if ready.queue and queue.rsplit("/", 1)[-1] != ready.queue.rsplit("/", 1)[-1]:
        say(f"warning: the template resolves WORK_QUEUE_URL to {queue}, the stack says {ready.queue}")
    env_file = work_dir / "env-vars.json"
    env_file.write_text(json.dumps(env, indent=2) + "\n")
    say(f"env-vars: {env_file}")
    invoked_template = plan_template(template, env)

    ctx = Context(ready=ready, env=env, aws=aws)
    results: list[Result] = []
    for case in cases:
        results.append(invoke(case, args, invoked_template, env_file, base_env, ctx, work_dir))
        _print_result(results[-1])
    for name in unknown:
        results.append(Result(name, False, 0.0, "no expected answer known for this event: add a check to "
                                                "scripts/sam_local.py (CASES) as documented in events/README.md"))
        _print_result(results[-1])
    for name in missing if not args.events else []:
        say(f"warning: {name} is checked here but not in events/")
    return results


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _print_result(result: Result) -> None:
    line = f"{'PASS' if result.passed else 'FAIL'} {result.event:<32} {result.seconds:6.1f} s"
    if result.detail:
        line += f"  {result.detail}"
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
