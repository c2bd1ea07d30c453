"""What one embedding call cost Hugging Face, and what the content cache and dedupe saved it.

Counted where the work happens (`CachedEmbedder`, `HuggingFaceClient`), carried by each chunk
to its job's counters, and shown in the job's status, so a caller sees what a repeated corpus
saved rather than taking it on trust.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HfUsage:
    """Counts for one call (or, summed with `+`, for a chunk or a job).

    `texts`: inputs asked for; `cache_hits`: inputs answered from the content cache;
    `sent`: distinct texts sent to HF; `requests`: HF requests made for them (batches, a
    retry not counted again); `requests_saved`: the requests the same inputs would have needed
    with neither cache nor dedupe, less `requests` (never below zero).
    """

    texts: int = 0
    cache_hits: int = 0
    sent: int = 0
    requests: int = 0
    requests_saved: int = 0

    def __add__(self, other: HfUsage) -> HfUsage:
        return HfUsage(
            texts=self.texts + other.texts,
            cache_hits=self.cache_hits + other.cache_hits,
            sent=self.sent + other.sent,
            requests=self.requests + other.requests,
            requests_saved=self.requests_saved + other.requests_saved,
        )

    @property
    def hit_ratio(self) -> float | None:
        """Share of the inputs answered from the cache; None when there were none."""
        return round(self.cache_hits / self.texts, 4) if self.texts else None

    def metric_counts(self) -> dict[str, int]:
        """The counts every path reports as EMF metrics (all Count), by metric name: what HF was
        asked, and what the content cache and the dedupe spared it."""
        return {"CacheHits": self.cache_hits, "HfRequests": self.requests, "HfRequestsSaved": self.requests_saved}
