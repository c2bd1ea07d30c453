"""A Hugging Face feature-extraction endpoint with known costs, so that every figure has an ideal.

    python -m benchmarks.performance.fake_endpoint --port 8099 --latency 0.1 --max-batch 32 \
        --concurrency 8 --queue 64

Each request takes `latency` seconds from its admission to its answer; at most `max_batch`
texts a request (413 above, as TEI answers); at most `concurrency` requests are worked at once,
up to `queue` more wait their turn in arrival order, and any beyond those are answered 429 at
once (TEI's overload answer). Vectors are `tests.fakes.fake_hf_server.expected_vector` of each
text, so they are deterministic. It counts the requests and texts it answered 200; `GET /stats`
reads the counts, `POST /reset` clears them. `started_endpoint` runs it in a process of its own,
so that the client's CPU never slows the endpoint down and its latency stays what it says.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from local.launcher import ROOT, free_port
from tests.fakes.fake_hf_server import expected_vector

DIMENSIONS = 384  # all-MiniLM-L6-v2's, so that stored bytes and payloads are those of a real model


@dataclass(frozen=True)
class EndpointParams:
    """The endpoint's costs: seconds a request takes, texts a request, requests worked and queued at once."""

    latency: float = 0.1
    max_batch: int = 32
    concurrency: int = 8
    queue: int = 64
    dimensions: int = DIMENSIONS


class Gate:
    """Admission as TEI does it: `concurrency` requests run, `queue` more wait (first come, first
    served), the rest are refused. Thread-safe.
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        """Takes how many may run at once and how many may wait beyond those."""
        self._concurrency = concurrency
        self._queue = queue
        self._running = 0
        self._waiting: list[threading.Event] = []
        self._lock = threading.Lock()
        self.most_running = 0
        self.most_waiting = 0

    def enter(self) -> bool:
        """Blocks until this request may run and returns True; returns False at once (a 429) when full."""
        with self._lock:
            if self._running < self._concurrency and not self._waiting:
                self._running += 1
                self.most_running = max(self.most_running, self._running)
                return True
            if len(self._waiting) >= self._queue:
                return False
            turn = threading.Event()
            self._waiting.append(turn)
            self.most_waiting = max(self.most_waiting, len(self._waiting))
        turn.wait()  # `leave` hands its slot straight to the first waiter: `_running` stays counted
        return True

    def leave(self) -> None:
        """Frees the caller's slot, handing it to the longest waiter if any."""
        with self._lock:
            if self._waiting:
                self._waiting.pop(0).set()
            else:
                self._running -= 1


@dataclass
class Counts:
    """What the endpoint answered: 200 requests and their texts, 413s and 429s."""

    requests: int = 0
    texts: int = 0
    too_large: int = 0
    overloaded: int = 0
    most_running: int = 0
    most_waiting: int = 0


def inputs_of(body: bytes) -> list[str] | None:
    """The texts of a feature-extraction body (`{"inputs": str | [str]}`); None when it has none."""
    try:
        inputs = json.loads(body).get("inputs")
    except (ValueError, AttributeError):
        return None
    if isinstance(inputs, str):
        return [inputs]
    if isinstance(inputs, list) and all(isinstance(text, str) for text in inputs):
        return inputs
    return None


class Endpoint:
    """The endpoint's state: its parameters, its gate and its counts."""

    def __init__(self, params: EndpointParams, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """Takes the endpoint's costs (and, for tests, the clock and sleep a request's latency is kept with)."""
        self.params = params
        self._clock = clock
        self._sleep = sleep
        self.gate = Gate(params.concurrency, params.queue)
        self.counts = Counts()
        self._lock = threading.Lock()
        self._vector = functools.lru_cache(maxsize=200_000)(
            lambda text: json.dumps(expected_vector(text, params.dimensions)))

    def answer(self, body: bytes) -> tuple[int, bytes]:
        """One feature-extraction request: takes its body, returns (status, JSON body)."""
        texts = inputs_of(body)
        if texts is None:
            return 422, b'{"error": "inputs must be a string or a list of strings"}'
        if len(texts) > self.params.max_batch:
            with self._lock:
                self.counts.too_large += 1
            return 413, json.dumps({"error": f"batch size {len(texts)} > maximum allowed batch size "
                                             f"{self.params.max_batch}", "error_type": "Validation"}).encode()
        if not self.gate.enter():
            with self._lock:
                self.counts.overloaded += 1
            return 429, b'{"error": "Model is overloaded", "error_type": "overloaded"}'
        try:
            admitted = self._clock()
            payload = ("[" + ",".join(self._vector(text) for text in texts) + "]").encode()
            # The answer is built within the request's `latency`, not after it: building 32 vectors
            # takes a few ms, and more when eight requests build at once, which would make every
            # request take longer than the `latency` every ideal is computed from.
            self._sleep(max(0.0, self.params.latency - (self._clock() - admitted)))
        finally:
            self.gate.leave()
        with self._lock:
            self.counts.requests += 1
            self.counts.texts += len(texts)
        return 200, payload

    def stats(self) -> Counts:
        """The counts so far, with the most requests seen running and waiting at once."""
        with self._lock:
            return Counts(**{**asdict(self.counts), "most_running": self.gate.most_running,
                             "most_waiting": self.gate.most_waiting})

    def reset(self) -> None:
        """Starts a fresh count."""
        with self._lock:
            self.counts = Counts()
            self.gate.most_running = self.gate.most_waiting = 0


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:  # one line a request would cost more than the request
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._send(200, json.dumps(asdict(endpoint.stats())).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/reset":
                endpoint.reset()
                self._send(200, b"{}")
            elif self.path == "/" or (self.path.startswith("/models/")
                                      and self.path.endswith("/pipeline/feature-extraction")):
                self._send(*endpoint.answer(body))
            else:
                self._send(404, b'{"error": "not found"}')

    return Handler


def serve(params: EndpointParams, port: int) -> None:
    """Serves the endpoint on 127.0.0.1:`port` until the process is stopped."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(Endpoint(params)))
    server.daemon_threads = True
    server.request_queue_size = 1024  # queueing is the gate's job, not the listen backlog's
    server.serve_forever()


@dataclass(frozen=True)
class RunningEndpoint:
    """A started endpoint: its base URL and parameters; `stats()` and `reset()` over HTTP."""

    base_url: str
    params: EndpointParams

    def stats(self) -> Counts:
        """The endpoint's counts since its last reset."""
        return Counts(**httpx.get(f"{self.base_url}/stats", timeout=10).json())

    def reset(self) -> None:
        """Starts a fresh count."""
        httpx.post(f"{self.base_url}/reset", timeout=10).raise_for_status()


@contextmanager
def started_endpoint(params: EndpointParams) -> Iterator[RunningEndpoint]:
    """The endpoint in a child process on a free loopback port, up for the `with` block, then stopped."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.performance.fake_endpoint", "--port", str(port),
         "--latency", str(params.latency), "--max-batch", str(params.max_batch),
         "--concurrency", str(params.concurrency), "--queue", str(params.queue),
         "--dimensions", str(params.dimensions)],
        cwd=ROOT, stdin=subprocess.DEVNULL,
    )
    running = RunningEndpoint(f"http://127.0.0.1:{port}", params)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                running.stats()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the fake endpoint did not start") from None
                time.sleep(0.1)
        yield running
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = EndpointParams()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=defaults.latency)
    parser.add_argument("--max-batch", type=int, default=defaults.max_batch)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--queue", type=int, default=defaults.queue)
    parser.add_argument("--dimensions", type=int, default=defaults.dimensions)
    options = parser.parse_args()
    serve(EndpointParams(options.latency, options.max_batch, options.concurrency, options.queue,
                         options.dimensions), options.port)


if __name__ == "__main__":
    main()
