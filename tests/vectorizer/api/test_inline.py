"""The inline path's merging of a dimensions probe with the rest of the call."""

from __future__ import annotations

from vectorizer.api.answer_budget import DimensionsMemory
from vectorizer.api.inline import embed_rest, probe_dimensions, vectorize_inline
from vectorizer.config import ModuleConfig, resolve_target
from vectorizer.hf.client import EmbedOutcome
from vectorizer.hf.usage import HfUsage
from vectorizer.settings import Settings

TARGET = resolve_target(ModuleConfig(model="org/model"), "passage", Settings())


class OneRequestPerCall:
    """An HF client whose every call is one request; a text's vector is [its length]."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def embed(self, target, texts, token, deadline) -> EmbedOutcome:
        self.calls.append(list(texts))
        return EmbedOutcome(vectors=[[float(len(text))] for text in texts],
                            usage=HfUsage(texts=len(texts), sent=len(texts), requests=1))


def test_a_probed_call_answers_every_text_in_order_and_counts_both_requests() -> None:
    hf = OneRequestPerCall()
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    first = probe_dimensions(hf, TARGET, texts, "hf_token", deadline=1e12, memory=DimensionsMemory(), batch=2)

    answer = vectorize_inline(hf, TARGET, texts, None, "hf_token", 1e12, first=first)

    assert hf.calls == [["a", "bb"], ["ccc", "dddd", "eeeee"]]
    assert answer.response.vectors == [[1.0], [2.0], [3.0], [4.0], [5.0]]
    assert answer.usage == HfUsage(texts=5, sent=5, requests=2)


def test_without_a_probe_the_usage_is_the_one_calls() -> None:
    outcome = embed_rest(OneRequestPerCall(), TARGET, ["x", "y"], None, "hf_token", 1e12)
    assert outcome.usage == HfUsage(texts=2, sent=2, requests=1)
