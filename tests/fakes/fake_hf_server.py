"""A fake Hugging Face feature-extraction server on loopback, for fault injection.

Each text's vector is derived from its SHA-256, with values that float32 holds exactly, so a
test can say what every stored vector must be. Failures are injected per request, from a seeded
random stream: a share of 503 (model loading), 429 (rate limited) and 500 answers, texts that HF
refuses (400), and a delay. It counts requests and the most requests it had in flight at once.
"""

from __future__ import annotations

import hashlib
import json
import random
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
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
        try:
            if self.faults.delay_seconds:
                time.sleep(self.faults.delay_seconds)
            status, payload, extra = self._decide(body)
        finally:
            with self._lock:
                self.observed.in_flight -= 1
        with self._lock:
            self.observed.statuses[status] = self.observed.statuses.get(status, 0) + 1
        return status, payload, extra

    def _decide(self, body: bytes) -> tuple[int, object, dict[str, str]]:
        request = json.loads(body)
        with self._lock:
            self.observed.bodies.append(request)
        draw = self._draw()
        f = self.faults
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
        with self._lock:
            self.observed.texts += len(texts)
        vectors = [expected_vector(t, f.dimensions) for t in texts]
        return 200, (vectors[0] if isinstance(inputs, str) else vectors), {}
