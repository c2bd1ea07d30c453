"""`POST /vectorize` with an `Idempotency-Key` header: a retried submission gets the first answer
and the same job, never a second one.

Powertools' idempotency utility keeps one record per (caller, key) in the idempotency table:
in progress while the job is being recorded and queued, then the 202 answer itself. A retry with
the same key and the same body gets that answer back (status, body, `Location`); with another
body, a 422; while the first is still running, a 409. The body is kept only as a SHA-256, and
the Hugging Face token is part of neither the key nor the hash: it is never written down. A
request answered inline has no side effect to guard: the key is not recorded for it (a retry
computes the same vectors again). A submission that fails (a 503 from the queue, say) leaves
no record, so its retry runs afresh; so does a retry after an in-progress record outlived the
invocation that wrote it (the API died mid-submit: the sweeper closes that job as failed).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vectorizer.errors import VectorizerError
from vectorizer.services import Services, aws_client

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Printable ASCII without spaces at either end, as long as a UUID or a client's own order id.
KEY_PATTERN = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,253}[\x21-\x7e]$|^[\x21-\x7e]$")

Answer = dict[str, Any]


def body_fingerprint(body: dict[str, Any]) -> str:
    """Takes a request body as parsed; returns the SHA-256 of its canonical JSON (sorted keys)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def checked_key(key: str) -> str:
    """Takes the header's value; returns it, or raises a 400 `invalid_idempotency_key` saying why."""
    if not KEY_PATTERN.match(key):
        raise VectorizerError(
            f"the {IDEMPOTENCY_HEADER} header must be 1 to 255 printable ASCII characters, not starting or "
            "ending with a space", status=400, code="invalid_idempotency_key",
        )
    return key


class IdempotentSubmissions:
    """Submissions made at most once per (caller, key), on one container's persistence layer.

    Takes the container's services (for the table's name and how long answers are kept).
    """

    def __init__(self, services: Services) -> None:
        # Powertools' idempotency package imports boto3 as it loads: it comes with the first
        # submission that carries a key, not with the cold start.
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        settings = services.settings
        self._config = IdempotencyConfig(
            event_key_jmespath="[owner, key]", payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True, expires_after_seconds=settings.idempotency_hours * 3600,
            hash_function="sha256",
        )
        store = DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table, boto3_client=aws_client("dynamodb"),
        )
        self._submit_once = idempotent_function(
            self._run, data_keyword_argument="request", persistence_store=store, config=self._config,
            key_prefix="vectorize",
        )

    @staticmethod
    def _run(*, request: dict[str, str], submit: Callable[[], Answer]) -> Answer:
        return submit()

    def submit(
        self, *, owner: str, key: str, body: dict[str, Any], submit: Callable[[], Answer], context: LambdaContext
    ) -> Answer:
        """Run `submit` (which queues the job and returns its answer) once for (`owner`, `key`).

        Takes the caller's identity, the header's key, the request body as parsed, and the
        invocation's context (an in-progress record lasts no longer than it). Returns `submit`'s
        answer, or the one it gave the first time. Raises 400 `invalid_idempotency_key`, 422
        `idempotency_key_reused` (same key, another body) or 409 `idempotency_key_in_progress`.
        """
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        self._config.register_lambda_context(context)
        request = {"owner": owner, "key": checked_key(key), "body": body_fingerprint(body)}
        try:
            return self._submit_once(request=request, submit=submit)
        except IdempotencyValidationError:
            raise VectorizerError(
                f"this {IDEMPOTENCY_HEADER} was used with another request body: send a new key for a new request",
                status=422, code="idempotency_key_reused",
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise VectorizerError(
                f"a request with this {IDEMPOTENCY_HEADER} is still being processed: retry in a few seconds",
                status=409, code="idempotency_key_in_progress",
            ) from None
        except IdempotencyPersistenceLayerError:
            # Without its record a retry could make a second job: refuse rather than risk it.
            raise VectorizerError(
                f"requests with an {IDEMPOTENCY_HEADER} cannot be taken just now (its records are out of reach): "
                "retry later", status=503, code="idempotency_unavailable",
            ) from None
