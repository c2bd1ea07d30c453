"""What every protocol shares: the call through the HF client, shortening, and the token."""

from __future__ import annotations

import math

import pytest

from vectorizer.config import FeatureParameters, ModuleOptions
from vectorizer.credentials import DefaultToken
from vectorizer.errors import HuggingFaceError, MissingTokenError, PayloadTooLargeError
from vectorizer.hf.client import EmbedOutcome
from vectorizer.protocols.embedding_call import (
    DimensionsError,
    EmbeddingCall,
    bearer_token,
    check_answer_size,
    run_embedding_call,
    shorten,
    target_for,
    token_for,
)
from vectorizer.settings import settings_from

SETTINGS = settings_from({"MAX_TEXTS": "3", "MAX_TEXT_CHARS": "10"})
TARGET = target_for("org/model", ModuleOptions(), FeatureParameters(), SETTINGS)
CALLER = "hf_callerTOKENforTHEprotocolsTESTS"
DEFAULT = "hf_defaultTOKENforTHEprotocolsTEST"


class ScriptedHF:
    """Stands in for HuggingFaceClient.embed with a ready outcome, recording what it was asked."""

    def __init__(self, outcome: EmbedOutcome) -> None:
        self.outcome = outcome
        self.calls: list[tuple[list[str], str | None]] = []

    async def embed(self, target, texts, token, deadline):
        self.calls.append((texts, token))
        return self.outcome


def call(texts: list[str], dimensions: int | None = None) -> EmbeddingCall:
    return EmbeddingCall(texts=texts, target=TARGET, dimensions=dimensions)


def test_every_vector_comes_back_in_order() -> None:
    hf = ScriptedHF(EmbedOutcome(vectors=[[1.0, 0.0], [0.0, 1.0]]))
    result = run_embedding_call(call(["a", "b"]), hf, SETTINGS, lambda: CALLER, deadline=math.inf)
    assert (result.model, result.vectors, result.dimensions) == ("org/model", [[1.0, 0.0], [0.0, 1.0]], 2)
    assert hf.calls == [(["a", "b"], CALLER)]


def test_one_failed_input_fails_the_request_naming_it() -> None:
    refused = HuggingFaceError("Hugging Face refused the input: too long", status=400, code="hf_input_rejected",
                               item_specific=True)
    hf = ScriptedHF(EmbedOutcome(vectors=[[1.0], None, [2.0]], errors={1: refused}))
    with pytest.raises(HuggingFaceError) as caught:
        run_embedding_call(call(["a", "b", "c"]), hf, SETTINGS, lambda: CALLER, deadline=math.inf)
    assert (caught.value.status, caught.value.code) == (400, "hf_input_rejected")
    assert caught.value.message == "input 1: Hugging Face refused the input: too long"


def test_a_request_wide_failure_wins_over_input_refusals() -> None:
    refused = HuggingFaceError("refused", status=400, code="hf_input_rejected", item_specific=True)
    limited = HuggingFaceError("rate", status=429, code="hf_rate_limited", retry_after=4)
    hf = ScriptedHF(EmbedOutcome(vectors=[None, None], errors={0: refused, 1: limited}))
    with pytest.raises(HuggingFaceError) as caught:
        run_embedding_call(call(["a", "b"]), hf, SETTINGS, lambda: CALLER, deadline=math.inf)
    assert caught.value is limited


def test_limits_are_checked_before_the_token_is_asked_for() -> None:
    def no_token() -> str:
        raise AssertionError("the token was asked for")

    hf = ScriptedHF(EmbedOutcome(vectors=[]))
    with pytest.raises(PayloadTooLargeError, match="4 texts in one request; the limit is 3"):
        run_embedding_call(call(["a"] * 4), hf, SETTINGS, no_token, deadline=math.inf)
    with pytest.raises(PayloadTooLargeError, match="the limit is 10"):
        run_embedding_call(call(["x" * 11]), hf, SETTINGS, no_token, deadline=math.inf)
    assert hf.calls == []


def test_dimensions_shorten_the_answer() -> None:
    hf = ScriptedHF(EmbedOutcome(vectors=[[3.0, 4.0, 12.0]]))
    result = run_embedding_call(call(["a"], dimensions=2), hf, SETTINGS, lambda: CALLER, deadline=math.inf)
    assert result.vectors == [[0.6, 0.8]]


def test_shorten_keeps_a_prefix_at_unit_length() -> None:
    assert shorten([[3.0, 4.0, 5.0], [0.0, 2.0, 1.0]], 2) == [[0.6, 0.8], [0.0, 1.0]]


def test_shorten_to_the_full_width_or_none_changes_nothing() -> None:
    vectors = [[3.0, 4.0]]
    assert shorten(vectors, 2) == [[3.0, 4.0]]
    assert shorten(vectors, None) == [[3.0, 4.0]]


def test_a_zero_prefix_stays_zero() -> None:
    assert shorten([[0.0, 0.0, 1.0]], 2) == [[0.0, 0.0]]


def test_more_dimensions_than_the_model_has_is_400() -> None:
    with pytest.raises(DimensionsError) as caught:
        shorten([[1.0, 0.0]], 3)
    assert (caught.value.status, caught.value.message) == (400, "dimensions 3 is more than the model's 2")


@pytest.mark.parametrize(
    ("header", "authorization", "expected"),
    [
        (CALLER, None, CALLER),
        (None, f"Bearer {CALLER}", CALLER),
        (None, f"bearer   {CALLER} ", CALLER),
        ("  ", f"Bearer {CALLER}", CALLER),
        (CALLER, "Bearer hf_otherTOKEN", CALLER),  # the explicit header wins
        (None, None, DEFAULT),
        (None, "Bearer ", DEFAULT),
        (None, "Basic dXNlcjpwYXNz", DEFAULT),  # not a bearer token: not ours
    ],
)
def test_the_token_comes_from_the_headers_else_the_default(header, authorization, expected) -> None:
    default = DefaultToken(settings_from({"HUGGINGFACE_APIKEY": DEFAULT}), read_secret=lambda arn: "")
    assert token_for(header, authorization, default, TARGET.url) == expected


def test_no_token_anywhere_is_401_saying_how_to_send_one() -> None:
    default = DefaultToken(settings_from({}), read_secret=lambda arn: "")
    with pytest.raises(MissingTokenError) as caught:
        token_for(None, None, default, TARGET.url)
    assert caught.value.status == 401
    assert "Authorization: Bearer" in caught.value.message and "X-Huggingface-Api-Key" in caught.value.message


def test_bearer_token_reads_only_bearer() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("Token abc") is None
    assert bearer_token(None) is None


def test_an_answer_over_lambdas_limit_is_refused() -> None:
    check_answer_size("x" * 6_000_000)
    with pytest.raises(PayloadTooLargeError) as caught:
        check_answer_size("x" * 6_000_001)
    assert caught.value.code == "answer_too_large"
