"""HfUsage: its sum and the metric counts every path reports."""

from __future__ import annotations

from vectorizer.hf.usage import HfUsage


def test_usage_adds_field_by_field_and_reports_its_metric_counts_by_name() -> None:
    total = HfUsage(texts=10, cache_hits=4, sent=6, requests=1, requests_saved=2) + HfUsage(
        texts=5, cache_hits=1, sent=4, requests=2, requests_saved=0)
    assert total == HfUsage(texts=15, cache_hits=5, sent=10, requests=3, requests_saved=2)
    assert total.metric_counts() == {"CacheHits": 5, "HfRequests": 3, "HfRequestsSaved": 2}
