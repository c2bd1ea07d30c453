"""How much one request may ask for, and whether it is answered inline or as a job."""

from __future__ import annotations

from vectorizer.api.models import Mode
from vectorizer.errors import PayloadTooLargeError
from vectorizer.settings import Settings


def check_limits(texts: list[str], settings: Settings) -> None:
    if len(texts) > settings.max_texts:
        raise PayloadTooLargeError(
            f"{len(texts)} texts in one request; the limit is {settings.max_texts}"
        )
    for index, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise PayloadTooLargeError(
                f"text {index} has {len(text)} characters; the limit is {settings.max_text_chars}"
            )


def runs_inline(count: int, mode: Mode, settings: Settings) -> bool:
    """True to answer inline, False to queue a job; 413 for a sync request over the sync limit."""
    if mode == "async":
        return False
    if count <= settings.sync_max_texts:
        return True
    if mode == "sync":
        raise PayloadTooLargeError(
            f"{count} texts for a sync request; the sync limit is {settings.sync_max_texts} "
            "(use mode 'auto' or 'async' for a job)"
        )
    return False
