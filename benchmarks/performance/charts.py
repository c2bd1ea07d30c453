"""The two charts of docs/PERFORMANCE.md, drawn with matplotlib's Agg backend (no display needed).

Small on purpose (a few inches at 80 dpi, a flat palette): each PNG stays well under 100 KB.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

DPI = 80


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def clients_chart(path: Path, names: Sequence[str], items_per_second: Sequence[float]) -> None:
    """Takes where to write and each client's name and items/s; writes a bar chart PNG there."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 3.2), dpi=DPI)
    bars = axes.barh(list(names), list(items_per_second), color="#4c72b0")
    axes.bar_label(bars, labels=[f"{value:,.0f}" for value in items_per_second], padding=3, fontsize=8)
    axes.set_xlabel("items per second (same fake endpoint)")
    axes.invert_yaxis()
    axes.margins(x=0.15)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def scaling_chart(path: Path, sizes: Sequence[int], seconds: Sequence[float], requests: Sequence[int]) -> None:
    """Takes where to write and, per job size, the job's seconds and HF requests; writes a two-axis
    line chart PNG there (seconds on the left axis, requests on the right).
    """
    plt = _pyplot()
    figure, left = plt.subplots(figsize=(6, 3.2), dpi=DPI)
    left.plot(list(sizes), list(seconds), "o-", color="#4c72b0", label="job seconds")
    left.set_xlabel("texts in the job")
    left.set_ylabel("seconds, POST to end", color="#4c72b0")
    right = left.twinx()
    right.plot(list(sizes), list(requests), "s--", color="#dd8452", label="HF requests")
    right.set_ylabel("HF requests", color="#dd8452")
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
