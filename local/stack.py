"""The local stack: embedded AWS, the real model, the API and the SQS event source, on one machine.

    python -m local.stack          # what `make local` runs; Ctrl-C stops everything it started

- moto server on MOTO_PORT (5000): the template's tables, queues and key are created in it by
  CloudFormation from `template.yaml` itself, plus a secret holding the local default token;
- the model endpoint on LOCAL_MODEL_PORT (8088): all-MiniLM-L6-v2 on the CPU (skipped when
  HF_API_BASE_URL names another endpoint);
- the API on LOCAL_API_PORT (3000): HTTP turned into API Gateway proxy events for ApiFunction;
- the event sources: the work queue polled and WorkerFunction invoked with SQS batches, the
  dead-letter queue polled for DeadLetterFunction and the split queue for SplitterFunction the
  same way; the files bucket's upload notifications reach the split queue as in AWS (moto's S3
  delivers them once `local.template_stack` has set them through the S3 API);
- the job-ended rule: made in moto on the template's bus with its pattern, delivering to a queue
  that is polled to invoke NotifierFunction with each event, as EventBridge would (a failed
  invocation is retried as Lambda retries an asynchronous one). Callbacks are signed with
  CALLBACK_SIGNING_SECRET (a fixed local value unless set) and may go to CALLBACK_ALLOWED_HOSTS.
- the schedule: SweeperFunction invoked with EventBridge's scheduled event every
  LOCAL_SWEEP_SECONDS (10) instead of every SweepIntervalMinutes, so stalled jobs close here too.
With LOCAL_REQUIRE_API_KEY=1 the template is deployed with RequireApiKey=true and the API wants
a key as API Gateway would: the keys of LOCAL_API_KEYS (comma list; one is made up and printed on
the `ready` line when it is empty) are created in moto's API Gateway, and each keyed route runs
the template's authorizer function first (403 `{"message": "Forbidden"}` for a missing or unknown key).
For fault-injection runs (`benchmarks/reliability`): LOCAL_FUNCTION_ENV, a JSON object, is added
to every function's environment (HF_TIMEOUT_SECONDS, CHUNK_SIZE, LOCAL_FAULTS_FILE: see
`local.faults`), and LOCAL_WORKER_TIMEOUT_SECONDS replaces the worker's Timeout. For benchmarks,
LOCAL_WORKER_CONCURRENCY (2) sets how many worker invocations the work queue feeds at once, and
LOCAL_STACK_NICE (0) lowers the CPU priority of the whole stack (every process it starts), so that
a model endpoint started apart at normal priority keeps the CPU the service would not share in AWS.
Each function runs in processes of its own with the environment the template gives it. The
servers the SAM-local containers must reach also listen on the docker0 address when it exists.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local.api_gateway import (
    MethodAuth,
    Refusal,
    Route,
    authorize_event,
    authorizer_event,
    find_route,
    http_answer,
    proxy_event,
)
from local.functions_pool import FunctionError, FunctionPool
from local.moto_dynamodb import SerializedMotoServer
from local.processes import StopRequest, stop, wait_for_stop_or_orphaning
from local.sqs_event_source import SqsEventSource
from local.template_stack import (
    DeployedStack,
    api_of,
    api_routes,
    deploy,
    max_async_retries,
    queue_events,
    route_auth,
    route_rules_to_queues,
)

ROOT = Path(__file__).resolve().parent.parent
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LOCAL_TOKEN = "hf_local_default_token_not_a_real_one"
LOCAL_CALLBACK_SECRET = "local-callback-signing-secret-not-a-real-one"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_REGION": "us-east-1"}


def docker_bridge_address() -> str | None:
    """The docker0 address, where SAM-local containers find the host; None without Docker."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    for word in out.stdout.split():
        if "/" in word and word[0].isdigit():
            return word.split("/")[0]
    return None


@dataclass
class StackSettings:
    moto_port: int = int(os.environ.get("MOTO_PORT", "5000"))
    model_port: int = int(os.environ.get("LOCAL_MODEL_PORT", "8088"))
    api_port: int = int(os.environ.get("LOCAL_API_PORT", "3000"))
    hf_base_url: str | None = os.environ.get("HF_API_BASE_URL") or None
    default_token: str = os.environ.get("HUGGINGFACE_APIKEY") or LOCAL_TOKEN
    bridge: str | None = field(default_factory=docker_bridge_address)
    api_concurrency: int = 2
    # Worker invocations at once (the event source mapping's concurrency): benchmarks raise it.
    worker_concurrency: int = int(os.environ.get("LOCAL_WORKER_CONCURRENCY", "2"))
    splitter_concurrency: int = 1
    # A reported failure comes back after the queue's visibility timeout in AWS (30 min here);
    # locally it is made visible again after this many seconds.
    redelivery_seconds: int = int(os.environ.get("LOCAL_REDELIVERY_SECONDS", "5"))
    # The sweeper's schedule: every this many seconds instead of the template's minutes.
    sweep_seconds: float = float(os.environ.get("LOCAL_SWEEP_SECONDS", "10"))
    # The template's RequireApiKey for this stack (off by default: the local API is open).
    require_api_key: bool = os.environ.get("LOCAL_REQUIRE_API_KEY", "") in ("1", "true")
    api_keys: list[str] = field(default_factory=lambda: [
        key.strip() for key in os.environ.get("LOCAL_API_KEYS", "").split(",") if key.strip()])
    # Job callbacks: where they may go (the template's default: nowhere) and their signing key.
    callback_allowed_hosts: str = os.environ.get("CALLBACK_ALLOWED_HOSTS", "")
    callback_secret: str = os.environ.get("CALLBACK_SIGNING_SECRET") or LOCAL_CALLBACK_SECRET
    # Fault-injection runs only: more environment for every function, and a shorter worker timeout.
    function_env: dict[str, str] = field(default_factory=lambda: {
        name: str(value) for name, value in json.loads(os.environ.get("LOCAL_FUNCTION_ENV") or "{}").items()})
    worker_timeout: float | None = float(os.environ["LOCAL_WORKER_TIMEOUT_SECONDS"]) \
        if os.environ.get("LOCAL_WORKER_TIMEOUT_SECONDS") else None

    @property
    def hosts(self) -> list[str]:
        return ["127.0.0.1"] + ([self.bridge] if self.bridge else [])

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def model_url(self) -> str:
        return self.hf_base_url or f"http://127.0.0.1:{self.model_port}"


def _wait_until(what: str, check, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s")


def _aws_client(service: str, settings: StackSettings) -> Any:
    return boto3.client(service, endpoint_url=settings.moto_url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def provision(settings: StackSettings) -> DeployedStack:
    """The template's stateful resources and the default-token secret, in moto."""
    secret = _aws_client("secretsmanager", settings).create_secret(
        Name="vectorizer/local/hf-token", SecretString=settings.default_token
    )
    return deploy(_aws_client("cloudformation", settings), s3=_aws_client("s3", settings),
                  overrides={"HuggingFaceApiKeySecretArn": secret["ARN"],
                             "RequireApiKey": "true" if settings.require_api_key else "false"})


def create_api_keys(settings: StackSettings) -> dict[str, str]:
    """The valid API keys (value -> id), created in moto's API Gateway; {} with keys off.

    With keys on and none given in LOCAL_API_KEYS, one is made up (settings.api_keys gets it).
    """
    if not settings.require_api_key:
        return {}
    if not settings.api_keys:
        settings.api_keys = [secrets.token_urlsafe(24)]
    apigateway = _aws_client("apigateway", settings)
    return {value: apigateway.create_api_key(name=f"local-{n}", value=value, enabled=True)["id"]
            for n, value in enumerate(settings.api_keys)}


def function_environment(stack: DeployedStack, function: str, settings: StackSettings) -> dict[str, str]:
    env = stack.environment(function)
    allowed = env.get("ENDPOINT_URL_ALLOWED_HOSTS", "")
    env.update(FAKE_CREDENTIALS)
    env.update({
        "AWS_ENDPOINT_URL": settings.moto_url,
        "HF_API_BASE_URL": settings.model_url,
        "ENDPOINT_URL_ALLOWED_HOSTS": f"{allowed},http://127.0.0.1:{settings.model_port}",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_DEV": os.environ.get("POWERTOOLS_DEV", "0"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    })
    if settings.callback_allowed_hosts:
        env["CALLBACK_ALLOWED_HOSTS"] = settings.callback_allowed_hosts
    if function == "NotifierFunction":
        # Deployed, the key is a generated secret (CALLBACK_SIGNING_SECRET_ARN); locally, the value.
        env["CALLBACK_SIGNING_SECRET"] = settings.callback_secret
    env.update(settings.function_env)
    if not settings.hf_base_url:
        # The local endpoint serves one model: make it the default for routes that name none
        # (`POST /`, `/embed`, `/v1/embeddings` without a model).
        env["DEFAULT_MODEL"] = MODEL
    return env


def _function_property(stack: DeployedStack, function: str, name: str, default: Any) -> Any:
    own = stack.template["Resources"][function].get("Properties", {}).get(name)
    if own is None:
        own = stack.template.get("Globals", {}).get("Function", {}).get(name, default)
    return stack.resolve(own)


def _warm_pool(
    stack: ExitStack, deployed: DeployedStack, function: str, settings: StackSettings, *, size: int = 1,
    timeout: float | None = None, extra_env: dict[str, str] | None = None,
) -> FunctionPool:
    """Start `function`'s warm processes as the template defines it (code, handler, environment,
    timeout), stopped when `stack` closes; returns the pool. `timeout` and `extra_env` override."""
    code = _function_property(deployed, function, "CodeUri", "").strip("/").split("/")[-1]
    pool = FunctionPool(
        function, ROOT / "functions" / code, _function_property(deployed, function, "Handler", "app.lambda_handler"),
        {**function_environment(deployed, function, settings), **(extra_env or {})},
        timeout=timeout or float(_function_property(deployed, function, "Timeout", 60)), size=size,
    )
    stack.callback(pool.stop)
    pool.warm()
    return pool


def _feed_from_queues(
    deployed: DeployedStack, function: str, pool: FunctionPool, slots: int, settings: StackSettings,
    stop: threading.Event,
) -> None:
    """Start `slots` pollers per SQS event source of `function` (as the template declares them),
    each invoking `pool` with real SQS batches until `stop` is set."""
    sqs = _aws_client("sqs", settings)
    for source in queue_events(deployed.template, function):
        queue_arn = deployed.resolve(source["Queue"])
        queue_url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        for slot in range(slots):
            poller = SqsEventSource(
                _aws_client("sqs", settings), queue_url, queue_arn,
                lambda event: pool.invoke(event, f"{len(event['Records'])} record(s)"),
                batch_size=int(deployed.resolve(source.get("BatchSize", 10))),
                batching_window_seconds=float(deployed.resolve(source.get("MaximumBatchingWindowInSeconds", 0))),
                redelivery_delay_seconds=settings.redelivery_seconds,
            )
            threading.Thread(target=poller.run_forever, args=(stop,), daemon=True,
                             name=f"event-source-{function}-{slot}").start()


def _json_response(refusal: Refusal) -> Response:
    return Response(json.dumps(refusal.body), refusal.status, content_type="application/json")


class ApiGatewayApp:
    """WSGI: an HTTP request -> a REST proxy event -> ApiFunction -> an HTTP response.

    A route that requires a key or an authorizer (`auth`, from the template) gets them first:
    the authorizer's pool is invoked with the REQUEST authorizer event, then the key is checked
    against `api_keys` (value -> id), as API Gateway does before it calls the integration.
    """

    def __init__(
        self, routes: list[Route], pool: FunctionPool, *, auth: dict[tuple[str, str], MethodAuth] | None = None,
        authorizers: dict[str, FunctionPool] | None = None, api_keys: dict[str, str] | None = None,
    ) -> None:
        self._routes = routes
        self._pool = pool
        self._auth = auth or {}
        self._authorizers = authorizers or {}
        self._api_keys = api_keys or {}

    def _authorized(self, event: dict[str, Any], route: Route, describe: str) -> dict[str, Any] | Refusal:
        auth = self._auth.get((route.method, route.resource))
        if auth is None:
            return event
        answer = None
        if auth.authorizer is not None:
            try:
                answer = self._authorizers[auth.authorizer].invoke(authorizer_event(event), describe)
            except FunctionError as error:
                # A Lambda authorizer that raises "Unauthorized" is API Gateway's 401.
                return Refusal(401, {"message": "Unauthorized"}) if str(error).endswith(": Unauthorized") \
                    else Refusal(500, {"message": None})
        return authorize_event(event, auth, answer, self._api_keys)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        found = find_route(self._routes, request.method, request.path)
        if found is None:
            response = Response(json.dumps({"message": "Missing Authentication Token"}), 403,
                                content_type="application/json")
            return response(environ, start_response)
        route, params = found
        event = proxy_event(
            route, params, method=request.method, path=request.path,
            headers=list(request.headers.items()), query=list(request.args.items(multi=True)),
            body=request.get_data() or None, source_ip=request.remote_addr or "127.0.0.1",
        )
        authorized = self._authorized(event, route, f"{request.method} {request.path}")
        if isinstance(authorized, Refusal):
            return _json_response(authorized)(environ, start_response)
        event = authorized
        try:
            status, headers, body = http_answer(self._pool.invoke(event, f"{request.method} {request.path}"))
        except FunctionError:
            status, headers, body = 502, [("Content-Type", "application/json")], b'{"message": "Internal server error"}'
        response = Response(body, status)
        response.headers.clear()
        for name, value in headers:
            response.headers.add(name, value)
        return response(environ, start_response)


class EventRuleSource:
    """A queue an EventBridge rule delivers to, polled to invoke a function with each event.

    Stands in for EventBridge invoking a function asynchronously: an invocation that fails is
    tried again after `redelivery_seconds`, at most `max_retries` times, then the event is dropped.
    """

    def __init__(self, sqs: Any, queue_url: str, invoke: Any, *, max_retries: int, redelivery_seconds: int) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._invoke = invoke
        self._max_retries = max_retries
        self._redelivery_seconds = redelivery_seconds

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive what is there and invoke the function with each event; returns how many were received."""
        answer = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=wait_seconds, AttributeNames=["ApproximateReceiveCount"])
        messages = answer.get("Messages", [])
        for message in messages:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            try:
                self._invoke(json.loads(message["Body"]))
            except FunctionError:
                if receives <= self._max_retries:
                    self._sqs.change_message_visibility(
                        QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=self._redelivery_seconds,
                    )
                    continue
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def run_forever(self, stop: threading.Event) -> None:
        """Poll until `stop` is set."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as error:  # moto stopping under us, say: keep polling until told to stop
                print(f"event rule source: {type(error).__name__}", file=sys.stderr, flush=True)
                time.sleep(1)


@contextmanager
def _thread_server(server: Any) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _moto(settings: StackSettings) -> Iterator[None]:
    servers = [SerializedMotoServer(ip_address=host, port=settings.moto_port, verbose=False) for host in settings.hosts]
    for server in servers:
        server.start()
    try:
        _wait_until("moto", lambda: httpx.get(f"{settings.moto_url}/moto-api/", timeout=2).status_code == 200)
        yield
    finally:
        for server in servers:
            server.stop()


@contextmanager
def model_endpoint(port: int, extra_hosts: Sequence[str] = ()) -> Iterator[str]:
    """The real model endpoint (`local.model_server`) in a child process, on `port` of loopback and
    of each of `extra_hosts`; yields its loopback URL once `/health` answers, stops it afterwards.
    Raises RuntimeError when it exits or does not answer within 300 s (the model's first load on a
    busy machine).
    """
    args = [sys.executable, "-m", "local.model_server", "--port", str(port)]
    for host in ["127.0.0.1", *extra_hosts]:
        args += ["--host", host]
    # The endpoint asks Linux itself to stop it when this process dies (model_server.die_with_parent),
    # and watches for it too.
    process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the model endpoint exited with status {process.returncode}")
        return httpx.get(f"{url}/health", timeout=2).status_code == 200

    try:
        _wait_until("the model endpoint", answers, timeout=300)
        yield url
    finally:
        stop(process)


@contextmanager
def _model_endpoint(settings: StackSettings) -> Iterator[None]:
    if settings.hf_base_url:
        yield  # another endpoint was named: nothing to start
        return
    with model_endpoint(settings.model_port, settings.hosts[1:]):
        yield


def scheduled_event(rule: str) -> dict[str, Any]:
    """The event EventBridge hands a function on its schedule (`rule` names the rule)."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1", "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"], "detail": {},
    }


def run_on_schedule(pool: FunctionPool, every_seconds: float, stop: threading.Event) -> None:
    """Invoke `pool`'s function with a scheduled event every `every_seconds` until `stop` is set;
    a failed invocation is logged by the pool and the schedule goes on, as EventBridge's would."""
    while not stop.wait(every_seconds):
        with suppress(FunctionError):
            pool.invoke(scheduled_event(f"local-{pool.name}"), "schedule")


@contextmanager
def running_stack(settings: StackSettings) -> Iterator[DeployedStack]:
    """Everything up and answering inside the `with`; everything stopped after it."""
    with ExitStack() as stack:
        for name, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(name, value)
        stack.enter_context(_moto(settings))
        deployed = provision(settings)
        api_keys = create_api_keys(settings)
        stack.enter_context(_model_endpoint(settings))

        api = _warm_pool(stack, deployed, "ApiFunction", settings, size=settings.api_concurrency)
        worker = _warm_pool(stack, deployed, "WorkerFunction", settings, size=settings.worker_concurrency,
                            timeout=settings.worker_timeout)
        worker_timeout = float(_function_property(deployed, "WorkerFunction", "Timeout", 300))
        # A chunk comes back after a failed delivery in LOCAL_REDELIVERY_SECONDS here, not the queue's
        # visibility timeout: the sweeper's stall bound (deliveries x that) shrinks the same way.
        sweeper = _warm_pool(stack, deployed, "SweeperFunction", settings, extra_env={
            "QUEUE_VISIBILITY_SECONDS": str(int(worker_timeout) + settings.redelivery_seconds)})

        rest_api = api_of(deployed.template, "ApiFunction")
        auth = route_auth(deployed, rest_api) if rest_api else {}
        authorizers = {}
        for name in sorted({a.authorizer for a in auth.values() if a.authorizer}):
            authorizers[name] = _warm_pool(stack, deployed, name, settings, size=settings.api_concurrency)
        app = ApiGatewayApp([Route(m, p) for m, p in api_routes(deployed.template, "ApiFunction")], api,
                            auth=auth, authorizers=authorizers, api_keys=api_keys)
        for host in settings.hosts:
            stack.enter_context(_thread_server(make_server(host, settings.api_port, app, threaded=True)))

        stop = threading.Event()
        stack.callback(stop.set)
        # Every queue-fed function of the template, fed as Lambda would feed it: the worker from
        # the work queue, the dead-letter consumer from the dead-letter queue, the splitter from
        # the split queue.
        dead_letter = _warm_pool(stack, deployed, "DeadLetterFunction", settings)
        # The splitter from the split queue, where the files bucket's upload notifications land.
        splitter = _warm_pool(stack, deployed, "SplitterFunction", settings, size=settings.splitter_concurrency)
        for name, pool, slots in (("WorkerFunction", worker, settings.worker_concurrency),
                                  ("DeadLetterFunction", dead_letter, 1),
                                  ("SplitterFunction", splitter, settings.splitter_concurrency)):
            _feed_from_queues(deployed, name, pool, slots, settings, stop)

        notifier = _warm_pool(stack, deployed, "NotifierFunction", settings)
        rule_queues = route_rules_to_queues(
            deployed, "NotifierFunction", _aws_client("events", settings), _aws_client("sqs", settings)
        )
        for queue_url in rule_queues:
            rule_source = EventRuleSource(
                _aws_client("sqs", settings), queue_url,
                lambda event: notifier.invoke(event, f"job ended {event.get('detail', {}).get('jobId')}"),
                max_retries=max_async_retries(deployed, "NotifierFunction"),
                redelivery_seconds=settings.redelivery_seconds,
            )
            threading.Thread(target=rule_source.run_forever, args=(stop,), daemon=True, name="event-rule").start()
        threading.Thread(target=run_on_schedule, args=(sweeper, settings.sweep_seconds, stop), daemon=True,
                         name="schedule-sweeper").start()

        _wait_until("the API", lambda: httpx.get(f"http://127.0.0.1:{settings.api_port}/health",
                                                 timeout=5).status_code == 200)
        yield deployed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-bridge", action="store_true", help="listen on loopback only, even with docker0")
    options = parser.parse_args()
    # Before any thread or child exists, so all of them inherit it (benchmarks only; 0 changes nothing).
    os.nice(int(os.environ.get("LOCAL_STACK_NICE") or 0))
    settings = StackSettings()
    if options.no_bridge:
        settings.bridge = None

    # One line per invocation comes from the function pools; werkzeug's access log would repeat it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stopping = StopRequest()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stopping)
    parent = os.getppid()
    with running_stack(settings) as deployed:
        env = deployed.environment("ApiFunction")
        # A key made up for this run is printed so that its user can send it (never a configured one).
        made_up = "" if os.environ.get("LOCAL_API_KEYS") or not settings.require_api_key \
            else f" api_key={settings.api_keys[0]}"
        print(
            f"ready api=http://127.0.0.1:{settings.api_port} moto={settings.moto_url} model={settings.model_url} "
            f"queue={env['WORK_QUEUE_URL']} bridge={settings.bridge or '-'}"
            f" auth={'on' if settings.require_api_key else 'off'}{made_up}",
            flush=True,
        )
        # Stop on Ctrl-C or SIGTERM, and also when whoever started us is gone.
        wait_for_stop_or_orphaning(stopping, parent, interval=1.0)
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
