"""The caller's HF token: choosing it, the default token, and sealing it for the queue with KMS."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from vectorizer.credentials import DefaultToken, TokenSealer, choose_token, token_from_secret
from vectorizer.errors import MissingTokenError, VectorizerError
from vectorizer.settings import settings_from

TOKEN = "hf_callerTOKENzyxwvutsrqponmlk9876"
DEFAULT = "hf_defaultTOKENabcdefghijklmnop0123"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-token-AbCdEf"


class SecretReader:
    def __init__(self, value: str) -> None:
        self.value = value
        self.reads: list[str] = []

    def __call__(self, arn: str) -> str:
        self.reads.append(arn)
        return self.value


def default_token(env: dict[str, str], secret: str = "") -> tuple[DefaultToken, SecretReader]:
    reader = SecretReader(secret)
    return DefaultToken(settings_from(env), reader), reader


# ------------------------------------------------------------------ choosing the token


@pytest.mark.parametrize(
    "header", [TOKEN, f"  {TOKEN}  ", f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER   {TOKEN} "]
)
def test_callers_own_token_wins(header: str) -> None:
    default, reader = default_token({"HUGGINGFACE_APIKEY": DEFAULT})
    assert choose_token(header, default) == (TOKEN, True)
    assert reader.reads == []


@pytest.mark.parametrize("header", [None, "", "   "])
def test_default_token_when_the_caller_sends_none(header: str | None) -> None:
    default, _ = default_token({"HUGGINGFACE_APIKEY": DEFAULT})
    assert choose_token(header, default) == (DEFAULT, False)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer   "])
def test_an_empty_bearer_header_is_no_token_not_the_word_bearer(header: str) -> None:
    # The header is stripped before the "bearer " prefix is looked for, so "Bearer " became the
    # token "Bearer" and was sent to HF as `Authorization: Bearer Bearer`. HTTP front ends trim
    # trailing blanks from header values, so "Bearer" alone is what arrives for "Bearer ".
    default, _ = default_token({"HUGGINGFACE_APIKEY": DEFAULT})
    assert choose_token(header, default) == (DEFAULT, False)


def test_no_token_anywhere_is_401() -> None:
    default, _ = default_token({"HUGGINGFACE_APIKEY": ""})
    with pytest.raises(MissingTokenError) as caught:
        choose_token(None, default)
    assert (caught.value.status, caught.value.code) == (401, "missing_token")
    assert caught.value.message == (
        "no Hugging Face token: send one in the X-Huggingface-Api-Key header (this deployment has no default token)"
    )


def test_default_token_prefers_the_plain_setting_over_the_secret() -> None:
    default, reader = default_token({"HUGGINGFACE_APIKEY": DEFAULT, "HUGGINGFACE_APIKEY_SECRET_ARN": ARN}, "other")
    assert default.get() == DEFAULT
    assert reader.reads == []


def test_default_token_secret_is_read_once_per_container() -> None:
    default, reader = default_token({"HUGGINGFACE_APIKEY_SECRET_ARN": ARN}, f"  {DEFAULT}\n")
    assert [default.get(), default.get(), default.get()] == [DEFAULT] * 3
    assert reader.reads == [ARN]


def test_default_token_secret_as_json() -> None:
    default, _ = default_token({"HUGGINGFACE_APIKEY_SECRET_ARN": ARN}, f'{{"token": " {DEFAULT} "}}')
    assert default.get() == DEFAULT


def test_no_default_configured_reads_nothing() -> None:
    default, reader = default_token({})
    assert default.get() is None
    assert reader.reads == []


@pytest.mark.parametrize("secret", ['{"apikey": "x"}', '{"token": ""}', '{"token": 5}', "{not json", '{"token": null}'])
def test_unreadable_json_secret_is_a_500_without_the_secret(secret: str) -> None:
    with pytest.raises(VectorizerError) as caught:
        token_from_secret(secret)
    assert (caught.value.status, caught.value.code) == (500, "default_token_unreadable")
    assert caught.value.message == "the default token secret is JSON without a 'token' string"


def test_plain_text_secret_is_the_token() -> None:
    assert token_from_secret(f"\n{DEFAULT}  ") == DEFAULT


# ------------------------------------------------------------------ sealing with KMS


@pytest.fixture
def kms(aws: None) -> tuple[Any, str]:
    client = boto3.client("kms")
    key_id = client.create_key(Description="unit test token key")["KeyMetadata"]["Arn"]
    return client, key_id


def test_seal_round_trip(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealer = TokenSealer(client, key_id)
    sealed = sealer.seal(TOKEN, "job-1")
    assert sealer.unseal(sealed, "job-1") == TOKEN


def test_sealed_form_never_contains_the_token(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealed = TokenSealer(client, key_id).seal(TOKEN, "job-1")
    blob = base64.b64decode(sealed, validate=True)
    assert TOKEN not in sealed
    assert TOKEN.encode() not in blob
    assert TOKEN.removeprefix("hf_").encode() not in blob
    assert base64.b64encode(TOKEN.encode()).decode() not in sealed


def test_sealing_is_bound_to_the_job_id_in_the_encryption_context(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealer = TokenSealer(client, key_id)
    sealed = sealer.seal(TOKEN, "job-1")
    answer = client.decrypt(CiphertextBlob=base64.b64decode(sealed), EncryptionContext={"jobId": "job-1"})
    assert answer["Plaintext"] == TOKEN.encode()
    # Without the context, or under another job, KMS will not open it.
    with pytest.raises(ClientError) as missing:
        client.decrypt(CiphertextBlob=base64.b64decode(sealed))
    assert missing.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_sealed_token_from_another_job_does_not_open(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealer = TokenSealer(client, key_id)
    sealed = sealer.seal(TOKEN, "job-1")
    with pytest.raises((ClientError, VectorizerError)) as caught:
        sealer.unseal(sealed, "job-2")
    assert TOKEN not in str(caught.value)


def test_a_sealed_token_that_does_not_open_is_the_callers_error(kms: tuple[Any, str]) -> None:
    # The worker parks a 4xx VectorizerError with its reason, but lets anything else be redelivered
    # until SQS gives up: a token sealed under another job can never open, so it must be a
    # `sealed_token_invalid` 400 like the not-base64 case.
    client, key_id = kms
    sealer = TokenSealer(client, key_id)
    sealed = sealer.seal(TOKEN, "job-1")
    with pytest.raises(VectorizerError) as caught:
        sealer.unseal(sealed, "job-2")
    assert (caught.value.status, caught.value.code) == (400, "sealed_token_invalid")
    assert TOKEN not in caught.value.message


def test_each_seal_is_distinct(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealer = TokenSealer(client, key_id)
    first, second = sealer.seal(TOKEN, "job-1"), sealer.seal(TOKEN, "job-1")
    assert first != second
    assert sealer.unseal(first, "job-1") == sealer.unseal(second, "job-1") == TOKEN


@pytest.mark.parametrize("sealed", ["not base64!", "abc", "****"])
def test_unseal_refuses_what_is_not_base64(kms: tuple[Any, str], sealed: str) -> None:
    client, key_id = kms
    with pytest.raises(VectorizerError) as caught:
        TokenSealer(client, key_id).unseal(sealed, "job-1")
    assert (caught.value.status, caught.value.code) == (400, "sealed_token_invalid")
    assert caught.value.message == "the sealed token is not base64"


def test_seal_without_a_key_is_a_500() -> None:
    class NoKms:
        def encrypt(self, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("KMS must not be called without a key")

    with pytest.raises(VectorizerError) as caught:
        TokenSealer(NoKms(), "").seal(TOKEN, "job-1")
    assert (caught.value.status, caught.value.code) == (500, "token_key_missing")
    assert TOKEN not in caught.value.message


def test_seal_passes_key_plaintext_and_context_to_kms() -> None:
    class RecordingKms:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def encrypt(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            return {"CiphertextBlob": b"\x01\x02\xff"}

        def decrypt(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            return {"Plaintext": TOKEN.encode()}

    kms = RecordingKms()
    sealer = TokenSealer(kms, "alias/stack/hf-token")
    assert sealer.seal(TOKEN, "job-9") == "AQL/"
    assert sealer.unseal("AQL/", "job-9") == TOKEN
    assert kms.calls == [
        {"KeyId": "alias/stack/hf-token", "Plaintext": TOKEN.encode(), "EncryptionContext": {"jobId": "job-9"}},
        {"CiphertextBlob": b"\x01\x02\xff", "EncryptionContext": {"jobId": "job-9"}},
    ]
