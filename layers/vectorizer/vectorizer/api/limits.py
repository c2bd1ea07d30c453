"""How much one request may ask for, and whether it is answered inline or as a job."""

from __future__ import annotations

from collections.abc import Sequence

from vectorizer.api.answer_budget import (
    ANSWER_FRAME_BYTES,
    ERROR_ENTRY_BYTES,
    dumps,
    envelope_bytes,
    json_vector_bytes,
)
from vectorizer.api.models import Mode
from vectorizer.errors import PayloadTooLargeError
from vectorizer.settings import Settings


def check_limits(texts: list[str], settings: Settings) -> None:
    """Takes the texts of one request and the settings; returns nothing, or raises 413 `PayloadTooLargeError` naming
    the limit (too many texts, or a text too long).
    """
    if len(texts) > settings.max_texts:
        raise PayloadTooLargeError(
            f"{len(texts)} texts in one request; the limit is {settings.max_texts}"
        )
    for index, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise PayloadTooLargeError(
                f"text {index} has {len(text)} characters; the limit is {settings.max_text_chars}"
            )


def inline_answer_bytes(count: int, ids: Sequence[str | None] | None, dimensions: int) -> int:
    """The most an inline `/vectorize` answer for `count` texts of `dimensions` can take.

    Takes the request's ids (written out exactly, twice: beside the vectors and in an error
    entry) and returns envelope bytes. Each item holds either a vector or an error entry, so it
    is counted at the larger of the two.
    """
    ids_bytes = envelope_bytes(dumps(list(ids))) if ids is not None else 5 * count
    per_item = max(json_vector_bytes(dimensions), ERROR_ENTRY_BYTES)
    return ANSWER_FRAME_BYTES + 2 * ids_bytes + count * per_item


def may_run_inline(count: int, mode: Mode, settings: Settings) -> bool:
    """Whether a request of `count` texts in `mode` is inline as far as the text count goes."""
    return mode != "async" and count <= settings.sync_max_texts


def runs_inline(count: int, mode: Mode, settings: Settings, answer_bytes: int = 0) -> bool:
    """True to answer inline, False to queue a job; 413 for a sync request past a limit.

    Takes the text count, the mode and the answer's estimated envelope bytes
    (`inline_answer_bytes`): past `SYNC_MAX_TEXTS` texts or past `ANSWER_BUDGET_BYTES`, `auto`
    becomes a job and `sync` is refused, naming the limit, before anything is called.
    """
    if mode == "async":
        return False
    if count <= settings.sync_max_texts and answer_bytes <= settings.answer_budget_bytes:
        return True
    if mode == "sync":
        if count > settings.sync_max_texts:
            raise PayloadTooLargeError(
                f"{count} texts for a sync request; the sync limit is {settings.sync_max_texts} "
                "(use mode 'auto' or 'async' for a job)"
            )
        raise PayloadTooLargeError(
            f"the answer for {count} texts could take {answer_bytes:,} bytes, over the answer budget of "
            f"{settings.answer_budget_bytes:,} (Lambda returns at most 6 MB): send fewer texts, or use "
            "mode 'auto' or 'async' for a job",
            code="answer_too_large",
        )
    return False
