"""Vectorizing a small request while the caller waits."""

from __future__ import annotations

from vectorizer import aio
from vectorizer.api.models import ItemErrorModel, VectorizeResponse
from vectorizer.config import Target
from vectorizer.hf.client import HuggingFaceClient


def vectorize_inline(
    hf: HuggingFaceClient,
    target: Target,
    texts: list[str],
    ids: list[str | None] | None,
    token: str | None,
    deadline: float,
) -> VectorizeResponse:
    """Vectors for every text, or the error that explains why there are none.

    A failure that concerns the whole request (token, loading, rate limit, timeout) is raised.
    Inputs HF refused one by one get `null` and an entry in `errors`, unless every input was
    refused, which is raised as the request's error.
    """
    outcome = aio.run(hf.embed(target, texts, token, deadline))
    request_wide = outcome.first_request_wide_error()
    if request_wide is not None:
        raise request_wide
    if outcome.dimensions is None:
        raise outcome.errors[min(outcome.errors)]
    id_list = ids if ids is not None else [None] * len(texts)
    return VectorizeResponse(
        model=target.model,
        dimensions=outcome.dimensions,
        vectors=outcome.vectors,
        ids=id_list,
        errors=[
            ItemErrorModel(index=index, id=id_list[index], error=error.message)
            for index, error in sorted(outcome.errors.items())
        ],
    )
