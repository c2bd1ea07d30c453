"""The caller's Hugging Face token: where it comes from, and how it crosses the queue sealed.

A token is a bearer secret. It is read from the request header, else from the configured
default; it is sent to HF and nowhere else. The default token is the operator's: it goes only to
`HF_API_BASE_URL` and the hosts the operator lists in `DEFAULT_TOKEN_HOSTS`, never to an
endpointURL a caller picked elsewhere. On the queue a caller's token rides encrypted with the
stack's KMS key, under an encryption context of the job id, the stack's name and the purpose,
so a sealed token lifted from one message (or the dead-letter queue) cannot be replayed under
another job, in another stack, or for anything else.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from vectorizer.config import default_token_may_go_to
from vectorizer.errors import MissingTokenError, VectorizerError
from vectorizer.settings import Settings

SecretReader = Callable[[str], str]

# HF tokens are about 40 characters; 2048 leaves room for long JWT-style endpoint tokens while
# staying well under KMS Encrypt's 4096-byte plaintext limit, so a job's token can always be sealed.
MAX_TOKEN_CHARS = 2048
NO_DEFAULT_TOKEN = "this deployment has no default token"
TOKEN_HEADER_HINT = "in the X-Huggingface-Api-Key header"
# What the encryption context binds besides the job id: this use of the key, and nothing else.
SEAL_PURPOSE = "hf-token"


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
        """Returns the deployment's default token (env, else the secret read once), or None without one. Says nothing
        of where it may go: see `for_destination`.
        """
        if self._settings.default_token:
            return self._settings.default_token
        if self._settings.default_token_secret_arn:
            if self._cached is None:
                self._cached = token_from_secret(self._read_secret(self._settings.default_token_secret_arn))
            return self._cached or None
        return None

    def for_destination(self, url: str) -> str:
        """The default token for a call to `url`, or `MissingTokenError` whose message says why not.

        Takes the URL about to be called; returns the token. The message is a reason to append
        to a caller's own words ("...: send one in the header (<reason>)"); it never holds a token.
        """
        if not default_token_may_go_to(url, self._settings):
            raise MissingTokenError(
                f"this deployment's default token is not sent to {_host_of(url)!r}: it goes only to HF_API_BASE_URL "
                "and the hosts the operator lists in DEFAULT_TOKEN_HOSTS"
            )
        token = self.get()
        if not token:
            raise MissingTokenError(NO_DEFAULT_TOKEN)
        return token


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or "that endpoint"
    except ValueError:
        return "that endpoint"


def choose_token(
    header_value: str | None, default: DefaultToken, destination: str, *, how_to_send: str = TOKEN_HEADER_HINT
) -> tuple[str, bool]:
    """The token to send to `destination` (the URL to call) and whether it is the caller's own.

    Takes the raw header value (a token, `Bearer <token>` or nothing), the default token and the
    URL; returns (token, True) for the caller's own, (default, False) where the default may go.
    Raises `VectorizerError` 401 `invalid_token` for a token no header could carry or too long,
    and `MissingTokenError` 401 when there is none, saying how to send one (`how_to_send`) and
    why the default does not apply.
    """
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
        if len(own) > MAX_TOKEN_CHARS:
            raise VectorizerError(
                f"the Hugging Face token has {len(own)} characters; the limit is {MAX_TOKEN_CHARS}",
                status=401, code="invalid_token",
            )
        return own, True
    try:
        return default.for_destination(destination), False
    except MissingTokenError as missing:
        raise MissingTokenError(
            f"no Hugging Face token: send one {how_to_send} ({missing.message})"
        ) from None


class TokenSealer:
    """Encrypts a token for the queue with `kms:Encrypt`, bound to one job of one stack."""

    def __init__(self, kms_client: Any, key_id: str, *, stack: str) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._stack = stack

    def context(self, job_id: str) -> dict[str, str]:
        """The KMS encryption context for `job_id`: job, stack and purpose must all match to open."""
        return {"jobId": job_id, "stack": self._stack, "purpose": SEAL_PURPOSE}

    def seal(self, token: str, job_id: str) -> str:
        """The token encrypted under this stack's key and `context(job_id)`, as base64 text; a 503
        `token_sealing_unavailable` when KMS does not answer."""
        if not self._key_id:
            raise VectorizerError(
                "this deployment cannot queue a caller's token: TOKEN_KEY_ID is not set",
                status=500, code="token_key_missing",
            )
        try:
            answer = self._kms.encrypt(
                KeyId=self._key_id, Plaintext=token.encode("utf-8"), EncryptionContext=self.context(job_id)
            )
        except (ClientError, BotoCoreError):
            # KMS throttled or down (boto3 already retried): the caller may simply submit again.
            raise VectorizerError(
                "the caller's token could not be sealed for the queue (KMS is not answering); "
                "submit the texts again later",
                status=503, code="token_sealing_unavailable",
            ) from None
        return base64.b64encode(answer["CiphertextBlob"]).decode("ascii")

    def unseal(self, sealed: str, job_id: str) -> str:
        """The token `seal` sealed for `job_id` in this stack; a 400 `sealed_token_invalid` if it
        does not open here (another job, stack or key), the KMS error itself if KMS is failing."""
        try:
            blob = base64.b64decode(sealed, validate=True)
        except (binascii.Error, ValueError):
            raise VectorizerError("the sealed token is not base64", code="sealed_token_invalid") from None
        try:
            answer = self._kms.decrypt(CiphertextBlob=blob, EncryptionContext=self.context(job_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise  # throttling or a KMS outage: let the message be delivered again
            # Sealed for another job or key: no retry can open it, so the message is parked with this reason.
            raise VectorizerError(
                "the sealed token does not open under this job id in this stack", code="sealed_token_invalid"
            ) from None
        return answer["Plaintext"].decode("utf-8")
