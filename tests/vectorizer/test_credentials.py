"""The caller's HF token: choosing it, the default token, and sealing it for the queue with KMS."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from vectorizer.credentials import MAX_TOKEN_CHARS, DefaultToken, TokenSealer, choose_token, token_from_secret
from vectorizer.errors import MissingTokenError, VectorizerError
from vectorizer.settings import settings_from

TOKEN = "hf_callerTOKENzyxwvutsrqponmlk9876"
DEFAULT = "hf_defaultTOKENabcdefghijklmnop0123"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-token-AbCdEf"
# Where the default token may go with default settings: HF_API_BASE_URL and paths under it.
HF_URL = "https://router.huggingface.co/hf-inference/models/a/b/pipeline/feature-extraction"
STRANGER = "https://strangers-endpoint.us-east-1.aws.endpoints.huggingface.cloud/collect"
STACK = "vectorizer-prod"


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
    assert choose_token(header, default, HF_URL) == (TOKEN, True)
    assert reader.reads == []


@pytest.mark.parametrize("header", [None, "", "   "])
def test_default_token_when_the_caller_sends_none(header: str | None) -> None:
    default, _ = default_token({"HUGGINGFACE_APIKEY": DEFAULT})
    assert choose_token(header, default, HF_URL) == (DEFAULT, False)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer   "])
def test_an_empty_bearer_header_is_no_token_not_the_word_bearer(header: str) -> None:
    # The header is stripped before the "bearer " prefix is looked for, so "Bearer " became the
    # token "Bearer" and was sent to HF as `Authorization: Bearer Bearer`. HTTP front ends trim
    # trailing blanks from header values, so "Bearer" alone is what arrives for "Bearer ".
    default, _ = default_token({"HUGGINGFACE_APIKEY": DEFAULT})
    assert choose_token(header, default, HF_URL) == (DEFAULT, False)


def test_no_token_anywhere_is_401() -> None:
    default, _ = default_token({"HUGGINGFACE_APIKEY": ""})
    with pytest.raises(MissingTokenError) as caught:
        choose_token(None, default, HF_URL)
    assert (caught.value.status, caught.value.code) == (401, "missing_token")
    assert caught.value.message == (
        "no Hugging Face token: send one in the X-Huggingface-Api-Key header (this deployment has no default token)"
    )


def test_default_token_is_not_sent_to_an_endpoint_the_operator_did_not_list() -> None:
    # *.endpoints.huggingface.cloud is on the default allow-list, and anyone can create an endpoint
    # there: the operator's token would have gone to whoever asked for it.
    default, reader = default_token({"HUGGINGFACE_APIKEY": DEFAULT})
    with pytest.raises(MissingTokenError) as caught:
        choose_token(None, default, STRANGER)
    assert (caught.value.status, caught.value.code) == (401, "missing_token")
    assert caught.value.message == (
        "no Hugging Face token: send one in the X-Huggingface-Api-Key header (this deployment's default token "
        "is not sent to 'strangers-endpoint.us-east-1.aws.endpoints.huggingface.cloud': it goes only to "
        "HF_API_BASE_URL and the hosts the operator lists in DEFAULT_TOKEN_HOSTS)"
    )
    assert DEFAULT not in caught.value.message
    assert reader.reads == []


def test_callers_own_token_goes_to_any_allowed_endpoint() -> None:
    default, _ = default_token({"HUGGINGFACE_APIKEY": DEFAULT})
    assert choose_token(TOKEN, default, STRANGER) == (TOKEN, True)


def test_default_token_goes_to_a_host_the_operator_lists() -> None:
    env = {"HUGGINGFACE_APIKEY": DEFAULT,
           "DEFAULT_TOKEN_HOSTS": "strangers-endpoint.us-east-1.aws.endpoints.huggingface.cloud"}
    default, _ = default_token(env)
    assert choose_token(None, default, STRANGER) == (DEFAULT, False)


def test_default_token_for_destination_reads_no_secret_where_it_may_not_go() -> None:
    default, reader = default_token({"HUGGINGFACE_APIKEY_SECRET_ARN": ARN}, DEFAULT)
    with pytest.raises(MissingTokenError):
        default.for_destination(STRANGER)
    assert reader.reads == []
    assert default.for_destination(HF_URL) == DEFAULT
    assert reader.reads == [ARN]


def test_a_token_of_the_longest_allowed_length_is_accepted() -> None:
    default, _ = default_token({})
    token = "hf_" + "a" * (MAX_TOKEN_CHARS - 3)
    assert choose_token(token, default, HF_URL) == (token, True)


@pytest.mark.parametrize("length", [MAX_TOKEN_CHARS + 1, 4097, 10_000])
def test_a_token_too_long_to_seal_is_refused_at_once_with_401(length: int) -> None:
    # KMS Encrypt refuses plaintext over 4096 bytes: a job with such a token was a 500.
    default, _ = default_token({"HUGGINGFACE_APIKEY": DEFAULT})
    token = "hf_" + "x" * (length - 3)
    with pytest.raises(VectorizerError) as caught:
        choose_token(token, default, HF_URL)
    assert (caught.value.status, caught.value.code) == (401, "invalid_token")
    assert caught.value.message == f"the Hugging Face token has {length} characters; the limit is 2048"


def test_the_longest_token_fits_under_kms_plaintext_limit() -> None:
    assert MAX_TOKEN_CHARS <= 4096


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
    sealer = TokenSealer(client, key_id, stack=STACK)
    sealed = sealer.seal(TOKEN, "job-1")
    assert sealer.unseal(sealed, "job-1") == TOKEN


def test_sealed_form_never_contains_the_token(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealed = TokenSealer(client, key_id, stack=STACK).seal(TOKEN, "job-1")
    blob = base64.b64decode(sealed, validate=True)
    assert TOKEN not in sealed
    assert TOKEN.encode() not in blob
    assert TOKEN.removeprefix("hf_").encode() not in blob
    assert base64.b64encode(TOKEN.encode()).decode() not in sealed


def test_sealing_is_bound_to_the_job_id_in_the_encryption_context(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealer = TokenSealer(client, key_id, stack=STACK)
    sealed = sealer.seal(TOKEN, "job-1")
    context = {"jobId": "job-1", "stack": STACK, "purpose": "hf-token"}
    answer = client.decrypt(CiphertextBlob=base64.b64decode(sealed), EncryptionContext=context)
    assert answer["Plaintext"] == TOKEN.encode()
    # Without the context, or under another job, KMS will not open it.
    with pytest.raises(ClientError) as missing:
        client.decrypt(CiphertextBlob=base64.b64decode(sealed))
    assert missing.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_sealed_token_from_another_job_does_not_open(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealer = TokenSealer(client, key_id, stack=STACK)
    sealed = sealer.seal(TOKEN, "job-1")
    with pytest.raises((ClientError, VectorizerError)) as caught:
        sealer.unseal(sealed, "job-2")
    assert TOKEN not in str(caught.value)


def test_sealed_token_from_another_stack_does_not_open(kms: tuple[Any, str]) -> None:
    # A sealed token lifted from one stack's dead-letter queue, replayed under the same job id in
    # another stack sharing the key: the context binds the stack's name, so it stays shut.
    client, key_id = kms
    sealed = TokenSealer(client, key_id, stack="vectorizer-staging").seal(TOKEN, "job-1")
    with pytest.raises(VectorizerError) as caught:
        TokenSealer(client, key_id, stack=STACK).unseal(sealed, "job-1")
    assert (caught.value.status, caught.value.code) == (400, "sealed_token_invalid")
    assert caught.value.message == "the sealed token does not open under this job id in this stack"


def test_sealed_token_does_not_open_under_the_job_id_alone(kms: tuple[Any, str]) -> None:
    # What the old context was: a token sealed now cannot be opened for another purpose with it.
    client, key_id = kms
    sealed = TokenSealer(client, key_id, stack=STACK).seal(TOKEN, "job-1")
    with pytest.raises(ClientError) as caught:
        client.decrypt(CiphertextBlob=base64.b64decode(sealed), EncryptionContext={"jobId": "job-1"})
    assert caught.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_a_sealed_token_that_does_not_open_is_the_callers_error(kms: tuple[Any, str]) -> None:
    # The worker parks a 4xx VectorizerError with its reason, but lets anything else be redelivered
    # until SQS gives up: a token sealed under another job can never open, so it must be a
    # `sealed_token_invalid` 400 like the not-base64 case.
    client, key_id = kms
    sealer = TokenSealer(client, key_id, stack=STACK)
    sealed = sealer.seal(TOKEN, "job-1")
    with pytest.raises(VectorizerError) as caught:
        sealer.unseal(sealed, "job-2")
    assert (caught.value.status, caught.value.code) == (400, "sealed_token_invalid")
    assert TOKEN not in caught.value.message


def test_each_seal_is_distinct(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    sealer = TokenSealer(client, key_id, stack=STACK)
    first, second = sealer.seal(TOKEN, "job-1"), sealer.seal(TOKEN, "job-1")
    assert first != second
    assert sealer.unseal(first, "job-1") == sealer.unseal(second, "job-1") == TOKEN


@pytest.mark.parametrize("sealed", ["not base64!", "abc", "****"])
def test_unseal_refuses_what_is_not_base64(kms: tuple[Any, str], sealed: str) -> None:
    client, key_id = kms
    with pytest.raises(VectorizerError) as caught:
        TokenSealer(client, key_id, stack=STACK).unseal(sealed, "job-1")
    assert (caught.value.status, caught.value.code) == (400, "sealed_token_invalid")
    assert caught.value.message == "the sealed token is not base64"


def test_seal_without_a_key_is_a_500() -> None:
    class NoKms:
        def encrypt(self, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("KMS must not be called without a key")

    with pytest.raises(VectorizerError) as caught:
        TokenSealer(NoKms(), "", stack=STACK).seal(TOKEN, "job-1")
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
    sealer = TokenSealer(kms, "alias/stack/hf-token", stack=STACK)
    assert sealer.seal(TOKEN, "job-9") == "AQL/"
    assert sealer.unseal("AQL/", "job-9") == TOKEN
    context = {"jobId": "job-9", "stack": STACK, "purpose": "hf-token"}
    assert kms.calls == [
        {"KeyId": "alias/stack/hf-token", "Plaintext": TOKEN.encode(), "EncryptionContext": context},
        {"CiphertextBlob": b"\x01\x02\xff", "EncryptionContext": context},
    ]


@pytest.mark.parametrize("failure", [
    ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Encrypt"),
    ClientError({"Error": {"Code": "KMSInternalException", "Message": "internal"}}, "Encrypt"),
    EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com"),
], ids=["throttled", "kms-internal", "unreachable"])
def test_kms_failing_to_seal_is_a_503_to_try_again_never_a_500(failure: Exception) -> None:
    class FailingKms:
        def encrypt(self, **_: Any) -> dict:
            raise failure

    with pytest.raises(VectorizerError) as raised:
        TokenSealer(FailingKms(), "key-arn", stack=STACK).seal(TOKEN, "job-1")
    assert (raised.value.status, raised.value.code) == (503, "token_sealing_unavailable")
    assert raised.value.message == (
        "the caller's token could not be sealed for the queue (KMS is not answering); submit the texts again later"
    )
    assert TOKEN not in raised.value.message
