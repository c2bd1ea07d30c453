"""docs/load_into_weaviate.py against a fake Weaviate on loopback.

The official v4 client sends batched objects only over gRPC (BatchObjects; REST serves batch
references alone), so the fake answers both: the REST routes the client calls on connect and for
`collections.exists`, and the gRPC health check and BatchObjects, recording every object.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
import threading
import uuid
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
import weaviate.connect.v4
from google.protobuf.json_format import MessageToDict
from weaviate.proto.v1 import batch_pb2, health_weaviate_pb2, weaviate_pb2_grpc

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "load_into_weaviate.py"
JOB_ID = "job-7"
GIVEN_UUID = "6f1d3c1e-58c2-4d4e-9a61-2b7c1f0e9a11"

# Shard 1 is listed first in the manifest: the script must still read chunk 0 first.
SHARDS = {
    0: [
        {"id": "doc-1", "line": 1, "vector": [0.5, -0.25, 1.0]},
        {"id": None, "line": 2, "vector": [0.125, 2.0, -3.5]},
        {"id": GIVEN_UUID, "line": 3, "vector": [-1.0, 0.0, 0.75]},
    ],
    1: [
        {"id": "doc-4", "line": 4, "vector": [4.0, -0.5, 0.0625]},
        {"id": None, "line": 6, "vector": [-2.25, 1.5, 8.0]},
    ],
}


def expected_uuid(record: dict) -> str:
    """The uuid the README promises, computed here without the script's help."""
    if record["id"] is None:
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{JOB_ID}:{record['line']}"))
    if record["id"] == GIVEN_UUID:
        return GIVEN_UUID
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, record["id"]))


class FakeWeaviate:
    """REST + gRPC stand-in: records what arrives, fails the objects whose uuid is in `fail`."""

    def __init__(self, files: Path) -> None:
        self.files = files
        self.collections = {"Article"}
        self.fail: dict[str, str] = {}
        self.objects: list[dict] = []
        self.rest_paths: list[str] = []
        self.grpc_metadata: list[dict] = []

    def batch_objects(self, request: batch_pb2.BatchObjectsRequest, context) -> batch_pb2.BatchObjectsReply:
        """Record each object (uuid, collection, float32 vector, properties) and answer per-object errors."""
        self.grpc_metadata.append(dict(context.invocation_metadata()))
        errors = []
        for index, obj in enumerate(request.objects):
            count = len(obj.vector_bytes) // 4
            self.objects.append({
                "uuid": obj.uuid,
                "collection": obj.collection,
                "vector": list(struct.unpack(f"<{count}f", obj.vector_bytes)),
                "properties": MessageToDict(obj.properties.non_ref_properties),
            })
            if obj.uuid in self.fail:
                errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=self.fail[obj.uuid]))
        return batch_pb2.BatchObjectsReply(errors=errors, took=0.001)

    def answer(self, path: str) -> tuple[int, bytes]:
        """The REST answer for a GET path: Weaviate's own routes, PyPI's version check, the job's files."""
        self.rest_paths.append(path)
        if path == "/v1/meta":
            return 200, json.dumps({"version": "1.30.0", "hostname": "http://[::]:8080", "modules": {}}).encode()
        if path == "/v1/.well-known/ready":
            return 200, b""
        if path.startswith("/v1/schema/"):
            name = path.removeprefix("/v1/schema/")
            return (200, json.dumps({"class": name, "properties": []}).encode()) if name in self.collections \
                else (404, b"")
        if path == "/pypi/weaviate-client/json":
            return 200, json.dumps({"info": {"version": weaviate.__version__}}).encode()
        if path.startswith("/files/") and (self.files / path.removeprefix("/files/")).is_file():
            return 200, (self.files / path.removeprefix("/files/")).read_bytes()
        return 404, b'{"error": [{"message": "not found"}]}'


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    """A job's output as S3 holds it: manifest.json beside its shards."""
    root = tmp_path / "jobs" / JOB_ID
    (root / "shards").mkdir(parents=True)
    shards = []
    for chunk in (1, 0):
        key = f"jobs/{JOB_ID}/shards/{chunk:05d}.jsonl"
        (root / "shards" / f"{chunk:05d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in SHARDS[chunk]))
        lines = [r["line"] for r in SHARDS[chunk]]
        shards.append({"chunk": chunk, "jsonl": key, "npy": key.replace(".jsonl", ".npy"),
                       "ids": key.replace(".jsonl", ".ids.json"), "count": len(lines),
                       "firstLine": lines[0], "lastLine": lines[-1]})
    manifest = {"jobId": JOB_ID, "status": "partial", "model": "sentence-transformers/all-MiniLM-L6-v2",
                "dimensions": 3, "counts": {"total": 6, "succeeded": 5, "failed": 1}, "shards": shards,
                "failures": {"key": f"jobs/{JOB_ID}/failed.jsonl", "count": 1}, "formatVersion": 1}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def fake(tmp_path: Path, job_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The fake on loopback (REST on one port, gRPC on another); yields (fake, rest_url, grpc_port)."""
    state = FakeWeaviate(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()

    class Servicer(weaviate_pb2_grpc.WeaviateServicer):
        def BatchObjects(self, request, context):
            return state.batch_objects(request, context)

    health = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            lambda request, context: health_weaviate_pb2.WeaviateHealthCheckResponse(
                status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING),
            request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
            response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString),
    })
    rpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    weaviate_pb2_grpc.add_WeaviateServicer_to_server(Servicer(), rpc)
    rpc.add_generic_rpc_handlers((health,))
    grpc_port = rpc.add_insecure_port("127.0.0.1:0")
    rpc.start()
    rest_url = f"http://127.0.0.1:{http.server_port}"
    # The client's best-effort "is there a newer client" look-up goes to the fake, not to pypi.org.
    monkeypatch.setattr(weaviate.connect.v4, "PYPI_PACKAGE_URL", f"{rest_url}/pypi/weaviate-client/json")
    yield state, rest_url, grpc_port
    rpc.stop(grace=None)
    http.shutdown()


def run_script(monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    """Run the script's main() in this process, as `python docs/load_into_weaviate.py ARGV...`."""
    spec = importlib.util.spec_from_file_location("load_into_weaviate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *argv])
    module.main()


def expected_objects() -> list[dict]:
    """What Weaviate must receive, in line order: exact vector, uuid, line (and sourceId when given)."""
    return [
        {"uuid": expected_uuid(r), "collection": "Article", "vector": r["vector"],
         "properties": {"line": r["line"], **({"sourceId": r["id"]} if r["id"] is not None else {})}}
        for chunk in (0, 1) for r in SHARDS[chunk]
    ]


def test_every_vector_of_a_local_job_directory_arrives_with_its_uuid_and_line(fake, job_dir, monkeypatch, capsys):
    state, rest_url, grpc_port = fake
    run_script(monkeypatch, str(job_dir), rest_url, "Article", "--grpc-port", str(grpc_port))
    assert state.objects == expected_objects()
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "sent 5 of the manifest's 5 vectors to Article", "every object imported"]


def test_a_manifest_url_is_read_with_its_shards_beside_it_over_http(fake, job_dir, monkeypatch):
    state, rest_url, grpc_port = fake
    run_script(monkeypatch, f"{rest_url}/files/jobs/{JOB_ID}/manifest.json", rest_url, "Article",
               "--grpc-port", str(grpc_port))
    assert state.objects == expected_objects()
    assert [p for p in state.rest_paths if p.startswith("/files/")] == [
        f"/files/jobs/{JOB_ID}/manifest.json",
        f"/files/jobs/{JOB_ID}/shards/00000.jsonl",
        f"/files/jobs/{JOB_ID}/shards/00001.jsonl",
    ]


def test_the_api_key_reaches_weaviate_as_a_bearer_token(fake, job_dir, monkeypatch):
    state, rest_url, grpc_port = fake
    run_script(monkeypatch, str(job_dir / "manifest.json"), rest_url, "Article",
               "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port), "--api-key", "wv-secret")
    assert {m.get("authorization") for m in state.grpc_metadata} == {"Bearer wv-secret"}


def test_objects_weaviate_refuses_are_listed_and_the_exit_status_is_not_zero(fake, job_dir, monkeypatch):
    state, rest_url, grpc_port = fake
    refused = expected_uuid(SHARDS[1][0])
    state.fail[refused] = "vector lengths don't match: 384 vs 3"
    with pytest.raises(SystemExit) as stopped:
        run_script(monkeypatch, str(job_dir), rest_url, "Article", "--grpc-port", str(grpc_port))
    assert stopped.value.code == (
        f"1 object(s) not imported:\nline 4 (uuid {refused}): vector lengths don't match: 384 vs 3")


def test_a_missing_collection_stops_before_anything_is_sent(fake, job_dir, monkeypatch):
    state, rest_url, grpc_port = fake
    with pytest.raises(SystemExit) as stopped:
        run_script(monkeypatch, str(job_dir), rest_url, "Books", "--grpc-port", str(grpc_port))
    assert stopped.value.code == "collection 'Books' does not exist in Weaviate: create it first"
    assert state.objects == []
