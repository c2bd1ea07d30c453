"""The caller's Hugging Face token: where it comes from, and how it crosses the queue sealed.

A token is a bearer secret. It is read from the request header, else from the configured
default; it is sent to HF and nowhere else. On the queue it rides encrypted with the stack's
KMS key, with the job id as encryption context, so a sealed token lifted from one message
cannot be replayed under another job.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from vectorizer.errors import MissingTokenError, VectorizerError
from vectorizer.settings import Settings

SecretReader = Callable[[str], str]


def token_from_secret(secret: str) -> str:
    """A secret holds the token as plain text, or as JSON `{"token": "..."}`."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("token")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value:
            raise VectorizerError(
                "the default token secret is JSON without a 'token' string", status=500,
                code="default_token_unreadable",
            )
        return value.strip()
    return text


class DefaultToken:
    """The stack's default token: `HUGGINGFACE_APIKEY`, else the Secrets Manager secret.

    The secret is read at most once per container (cold start), then kept in memory.
    """

    def __init__(self, settings: Settings, read_secret: SecretReader) -> None:
        self._settings = settings
        self._read_secret = read_secret
        self._cached: str | None = None

    def get(self) -> str | None:
        if self._settings.default_token:
            return self._settings.default_token
        if self._settings.default_token_secret_arn:
            if self._cached is None:
                self._cached = token_from_secret(self._read_secret(self._settings.default_token_secret_arn))
            return self._cached or None
        return None


def choose_token(header_value: str | None, default: DefaultToken) -> tuple[str, bool]:
    """The token to use and whether it is the caller's own (True) rather than the default."""
    own = (header_value or "").strip()
    # "Bearer" alone (a client with an empty token) is no token, not the word as a token.
    if own.lower() == "bearer" or own.lower().startswith("bearer "):
        own = own[6:].strip()
    if own:
        # A token goes into an HTTP header: anything but printable ASCII could never be sent, and
        # would fail later, deep in a worker. The message never repeats what was sent.
        if not (own.isascii() and own.isprintable()):
            raise VectorizerError(
                "the Hugging Face token must be printable ASCII", status=401, code="invalid_token"
            )
        return own, True
    fallback = default.get()
    if fallback:
        return fallback, False
    raise MissingTokenError(
        "no Hugging Face token: send one in the X-Huggingface-Api-Key header "
        "(this deployment has no default token)"
    )


class TokenSealer:
    """Encrypts a token for the queue with `kms:Encrypt`, bound to one job id."""

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def seal(self, token: str, job_id: str) -> str:
        if not self._key_id:
            raise VectorizerError(
                "this deployment cannot queue a caller's token: TOKEN_KEY_ID is not set",
                status=500, code="token_key_missing",
            )
        answer = self._kms.encrypt(
            KeyId=self._key_id, Plaintext=token.encode("utf-8"), EncryptionContext={"jobId": job_id}
        )
        return base64.b64encode(answer["CiphertextBlob"]).decode("ascii")

    def unseal(self, sealed: str, job_id: str) -> str:
        try:
            blob = base64.b64decode(sealed, validate=True)
        except (binascii.Error, ValueError):
            raise VectorizerError("the sealed token is not base64", code="sealed_token_invalid") from None
        try:
            answer = self._kms.decrypt(CiphertextBlob=blob, EncryptionContext={"jobId": job_id})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise  # throttling or a KMS outage: let the message be delivered again
            # Sealed for another job or key: no retry can open it, so the message is parked with this reason.
            raise VectorizerError(
                "the sealed token does not open under this job id", code="sealed_token_invalid"
            ) from None
        return answer["Plaintext"].decode("utf-8")
