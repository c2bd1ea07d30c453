"""`BatchWriteItem` with retries, kept at the top of the package so every room can share it; re-exported here."""

from vectorizer.batch_write import MAX_BATCH_ITEMS, MAX_ROUNDS, UnprocessedItemsError, batch_write

__all__ = ["MAX_BATCH_ITEMS", "MAX_ROUNDS", "UnprocessedItemsError", "batch_write"]
