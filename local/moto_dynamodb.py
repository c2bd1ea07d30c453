"""moto's DynamoDB, one request at a time: in the moto server and in-process under `mock_aws`.

moto's DynamoDB backend is not safe for requests running side by side, and the worker runs the
records of one invocation in threads:
- A cancelled TransactWriteItems (a condition fails, as for a chunk counted already) restores a
  snapshot of the tables it touched: whatever another request wrote meanwhile is lost, which
  DynamoDB never does, and a job's counters then miss a chunk.
- Taking that snapshot deep-copies items while another request changes them: "dictionary changed
  size during iteration", a RuntimeError the worker takes for its own failure.
One DynamoDB request at a time (on every address moto listens on, and in-process: they all share
one backend) gives the tests and the local stack the atomic requests DynamoDB itself has.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

DYNAMODB_LOCK = threading.RLock()
_DYNAMODB_TARGET = "DynamoDB_"


def _is_dynamodb(target: str | bytes | None) -> bool:
    if isinstance(target, bytes):
        target = target.decode("ascii", "replace")
    return bool(target) and target.startswith(_DYNAMODB_TARGET)


def one_dynamodb_request_at_a_time(app: Any) -> Any:
    """Wrap a WSGI app so that DynamoDB requests (X-Amz-Target DynamoDB_*) run one at a time."""
    def serialized(environ: dict[str, Any], start_response: Any) -> Any:
        if not _is_dynamodb(environ.get("HTTP_X_AMZ_TARGET")):
            return app(environ, start_response)
        with DYNAMODB_LOCK:
            return list(app(environ, start_response))
    return serialized


class SerializedMotoServer(ThreadedMotoServer):
    """moto server whose DynamoDB requests run one at a time (see the module's docstring)."""

    def _server_entry(self) -> None:
        app = one_dynamodb_request_at_a_time(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


def serialize_in_process_dynamodb() -> None:
    """Make `mock_aws` answer DynamoDB requests one at a time, for the rest of the process.

    Idempotent. Requests to other services are untouched.
    """
    if getattr(BotocoreStubber.process_request, "one_dynamodb_request_at_a_time", False):
        return
    unserialized = BotocoreStubber.process_request

    @functools.wraps(unserialized)
    def process_request(self: BotocoreStubber, request: Any) -> Any:
        if not _is_dynamodb(request.headers.get("X-Amz-Target")):
            return unserialized(self, request)
        with DYNAMODB_LOCK:
            return unserialized(self, request)

    process_request.one_dynamodb_request_at_a_time = True  # type: ignore[attr-defined]
    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
