"""Vectorizing a small request while the caller waits."""

from __future__ import annotations

from dataclasses import dataclass

from vectorizer import aio
from vectorizer.api.answer_budget import ERROR_MESSAGE_CHARS, DimensionsMemory
from vectorizer.api.models import ItemErrorModel, VectorizeResponse
from vectorizer.config import Target
from vectorizer.hf.client import EmbedOutcome, HuggingFaceClient
from vectorizer.hf.usage import HfUsage


@dataclass(frozen=True)
class InlineAnswer:
    """The body to answer with, and what HF was asked for it (an inline call has no job to count
    it in: the handler reports it as metrics)."""

    response: VectorizeResponse
    usage: HfUsage


def vectorize_inline(
    hf: HuggingFaceClient,
    target: Target,
    texts: list[str],
    ids: list[str | None] | None,
    token: str | None,
    deadline: float,
    memory: DimensionsMemory | None = None,
    first: EmbedOutcome | None = None,
) -> InlineAnswer:
    """Vectors for every text, or the error that explains why there are none.

    A failure that concerns the whole request (token, loading, rate limit, timeout) is raised.
    Inputs HF refused one by one get `null` and an entry in `errors` (its message cut to
    ERROR_MESSAGE_CHARS), unless every input was refused, which is raised as the request's error.
    The dimensions HF answered with are kept in `memory` for the next request's estimate;
    `first`, from `probe_dimensions`, holds the outcome of the first texts already embedded.
    Returns the response and the call's HF usage, the probe's included.
    """
    outcome = embed_rest(hf, target, texts, first, token, deadline)
    if memory is not None:
        memory.remember(target.url, outcome.dimensions)
    request_wide = outcome.first_request_wide_error()
    if request_wide is not None:
        raise request_wide
    if outcome.dimensions is None:
        raise outcome.errors[min(outcome.errors)]
    id_list = ids if ids is not None else [None] * len(texts)
    response = VectorizeResponse(
        model=target.model,
        dimensions=outcome.dimensions,
        vectors=outcome.vectors,
        ids=id_list,
        errors=[
            ItemErrorModel(index=index, id=id_list[index], error=error.message[:ERROR_MESSAGE_CHARS])
            for index, error in sorted(outcome.errors.items())
        ],
    )
    return InlineAnswer(response, outcome.usage)


def probe_dimensions(
    hf: HuggingFaceClient,
    target: Target,
    texts: list[str],
    token: str | None,
    deadline: float,
    memory: DimensionsMemory,
    batch: int,
) -> EmbedOutcome:
    """Embed the first `batch` texts (one HF request) to learn the target's dimensions.

    For a request whose answer would pass the budget only at the guessed dimensions, so that a
    cold container does not refuse (or queue) for ever what it can answer. Returns that part's
    outcome, to be completed by `embed_rest` if the whole fits; the dimensions, if any input got
    a vector, are kept in `memory`. A failure of the whole request (token, loading, rate limit)
    is raised, as the full call would have raised it.
    """
    outcome = aio.run(hf.embed(target, texts[:batch], token, deadline))
    request_wide = outcome.first_request_wide_error()
    if request_wide is not None:
        raise request_wide
    memory.remember(target.url, outcome.dimensions)
    return outcome


def embed_rest(
    hf: HuggingFaceClient, target: Target, texts: list[str], first: EmbedOutcome | None, token: str | None,
    deadline: float,
) -> EmbedOutcome:
    """Every text's outcome, in order: those `first` already holds, then the rest from HF; its
    usage is both calls'."""
    done = len(first.vectors) if first is not None else 0
    rest = aio.run(hf.embed(target, texts[done:], token, deadline)) if done < len(texts) else EmbedOutcome([])
    if first is None:
        return rest
    return EmbedOutcome(
        vectors=first.vectors + rest.vectors,
        errors={**first.errors, **{done + index: error for index, error in rest.errors.items()}},
        usage=first.usage + rest.usage,
    )
