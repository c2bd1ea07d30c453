"""A fake Hugging Face feature-extraction server on loopback, for fault injection.

Each text's vector is derived from its SHA-256, with values that float32 holds exactly, so a
test can say what every stored vector must be. Failures are injected per request, from a seeded
random stream: a share of 503 (model loading, with `estimated_time`), 429 (rate limited, with
`Retry-After`) and 500 answers, connections reset without an answer, answers held past the
client's timeout, 200s whose body is not JSON, has one vector too few, or one vector of another
width; texts that HF refuses (400), and a delay. A scale-from-zero endpoint answers 503 loading
to everything for its first seconds, then serves. It counts requests and the most requests it
had in flight at once, and logs every request (`Observed.log`), so a run can be counted from
what the endpoint itself saw; `reconfigure` swaps the faults and starts a fresh count.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIMENSIONS = 8


def expected_vector(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """The vector the fake answers for `text`: multiples of 1/128 in [-1, 1), exact in float32.

    Past 32 dimensions the digest is extended with SHA-256 of the text and a block number.
    """
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    block = 1
    while len(digest) < dimensions:
        digest += hashlib.sha256(f"{block}:{text}".encode()).digest()
        block += 1
    return [(byte - 128) / 128 for byte in digest[:dimensions]]


@dataclass
class Faults:
    loading_rate: float = 0.0
    rate_limit_rate: float = 0.0
    server_error_rate: float = 0.0
    refuse_texts: frozenset[str] = frozenset()
    delay_seconds: float = 0.0
    estimated_time: float = 0.01
    retry_after: str = "0"
    dimensions: int = DIMENSIONS
    # A shared endpoint scaled to zero: every request in this many seconds after the first one
    # (since start or `reconfigure`) is a 503 loading; then it serves.
    cold_start_seconds: float = 0.0
    # Shares of requests whose connection is reset with no answer; held `hang_seconds` (past the
    # client's timeout) before answering; answered 200 with a body that is not JSON; with one
    # vector too few; with one vector of another width (ragged).
    reset_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 3.0
    malformed_rate: float = 0.0
    wrong_count_rate: float = 0.0
    ragged_rate: float = 0.0


@dataclass(frozen=True)
class Logged:
    """One request as the endpoint saw it: when (monotonic), its inputs' digest and count, the answer."""

    at: float
    inputs: str
    texts: int
    status: int


# What `_decide` answers instead of a JSON payload: reset the connection, or send these raw bytes.
RESET = object()


@dataclass(frozen=True)
class RawBody:
    data: bytes


def inputs_digest(inputs: object) -> str:
    """A short digest of a request's `inputs`: the same batch sent again has the same digest."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Observed:
    requests: int = 0
    texts: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    authorizations: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    bodies: list[dict] = field(default_factory=list)
    log: list[Logged] = field(default_factory=list)
    first_at: float | None = None

    @property
    def retries(self) -> int:
        """Requests whose exact inputs had been sent before: the client trying a batch again."""
        return len(self.log) - len({entry.inputs for entry in self.log})


class FakeHuggingFace:
    def __init__(self, faults: Faults | None = None, seed: int = 7) -> None:
        self.faults = faults or Faults()
        self.observed = Observed()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload, headers = fake.answer(self.path, dict(self.headers), body)
                if payload is RESET:
                    # SO_LINGER 0: close() sends an RST, the client reads "connection reset".
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                data = payload.data if isinstance(payload, RawBody) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up first
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHuggingFace:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reconfigure(self, faults: Faults, seed: int = 7) -> None:
        """Serve with `faults` from now on, counting afresh (a new `Observed`, a reseeded stream)."""
        with self._lock:
            self.faults = faults
            self.observed = Observed()
            self._rng = random.Random(seed)

    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, object, dict[str, str]]:
        with self._lock:
            self.observed.requests += 1
            self.observed.in_flight += 1
            self.observed.max_in_flight = max(self.observed.max_in_flight, self.observed.in_flight)
            self.observed.paths.add(path)
            auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
            if auth:
                self.observed.authorizations.add(auth)
        observed = self.observed  # a `reconfigure` meanwhile starts a new count: this one ends here
        try:
            if self.faults.delay_seconds:
                time.sleep(self.faults.delay_seconds)
            status, payload, extra = self._decide(body)
        finally:
            with self._lock:
                observed.in_flight -= 1
        with self._lock:
            observed.statuses[status] = observed.statuses.get(status, 0) + 1
            inputs = _inputs_of(body)
            observed.log.append(Logged(time.monotonic(), inputs_digest(inputs),
                                       1 if isinstance(inputs, str) else len(inputs or []), status))
        return status, payload, extra

    def _decide(self, body: bytes) -> tuple[int, object, dict[str, str]]:
        request = json.loads(body)
        with self._lock:
            self.observed.bodies.append(request)
        f = self.faults
        with self._lock:
            now = time.monotonic()
            first = self.observed.first_at = self.observed.first_at or now
        if f.cold_start_seconds and now - first < f.cold_start_seconds:
            left = f.cold_start_seconds - (now - first)
            return 503, {"error": "Model fake/model is currently loading", "estimated_time": round(left, 2)}, {}
        draw = self._draw()
        if draw < f.loading_rate:
            return 503, {"error": "Model fake/model is currently loading", "estimated_time": f.estimated_time}, {}
        if draw < f.loading_rate + f.rate_limit_rate:
            return 429, {"error": "Rate limit reached"}, {"Retry-After": f.retry_after}
        if draw < f.loading_rate + f.rate_limit_rate + f.server_error_rate:
            return 500, {"error": "Internal server error"}, {}
        inputs = request["inputs"]
        texts = [inputs] if isinstance(inputs, str) else inputs
        refused = [t for t in texts if t in f.refuse_texts]
        if refused:
            return 400, {"error": f"Input validation error: cannot embed {refused[0][:40]!r}"}, {}
        broken = self._broken(texts)
        if broken is not None:
            return broken
        with self._lock:
            self.observed.texts += len(texts)
        vectors = [expected_vector(t, f.dimensions) for t in texts]
        return 200, (vectors[0] if isinstance(inputs, str) else vectors), {}

    def _broken(self, texts: list[str]) -> tuple[int, object, dict[str, str]] | None:
        """A transport or answer fault drawn for this request, or None to answer it properly."""
        f = self.faults
        draw = self._draw()
        for rate, fault in ((f.reset_rate, "reset"), (f.hang_rate, "hang"), (f.malformed_rate, "malformed"),
                            (f.wrong_count_rate, "count"), (f.ragged_rate, "ragged")):
            if draw >= rate:
                draw -= rate
                continue
            if fault == "reset":
                return 599, RESET, {}
            if fault == "hang":
                time.sleep(f.hang_seconds)  # the client has given up by now: close without an answer
                return 599, RESET, {}
            if fault == "malformed":
                return 200, RawBody(b'[[0.1, 0.2], [0.3'), {}
            vectors = [expected_vector(t, f.dimensions) for t in texts]
            if fault == "count":
                return 200, vectors[:-1], {}
            vectors[-1] = vectors[-1] + [0.0]
            return 200, vectors, {}
        return None


def _inputs_of(body: bytes) -> object:
    try:
        return json.loads(body).get("inputs")
    except (ValueError, AttributeError):
        return None
