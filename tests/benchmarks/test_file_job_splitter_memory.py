"""The splitter's memory stays flat as the file grows: a chunk and a read block, never the file."""

from __future__ import annotations

from benchmarks.file_jobs.splitter_memory import measure, to_markdown
from vectorizer.files.splitter import SplitLimits

# Small chunks and read blocks, so a file of a few hundred kilobytes is already many of each.
LIMITS = SplitLimits(chunk_size=100, max_message_bytes=900_000, max_text_chars=20_000)
BLOCK = 16 * 1024


def test_the_splitters_peak_memory_at_ten_times_the_lines_is_under_one_and_a_half_times() -> None:
    small = measure(1_000, block_bytes=BLOCK, limits=LIMITS, timed=False)
    large = measure(10_000, block_bytes=BLOCK, limits=LIMITS, timed=False)

    assert (small.messages, large.messages) == (10, 100)
    assert large.file_bytes > 9 * small.file_bytes
    assert large.peak_bytes < 1.5 * small.peak_bytes, to_markdown([small, large])
