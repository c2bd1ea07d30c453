"""How far the splitting of a file job has gone: saved after each send, read by the next step."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from vectorizer.files.records import ParsePosition


class SplitCursor(BaseModel):
    """The byte `offset` of the first record not yet queued, its index and physical line, the
    number the next chunk gets, and the CSV header once read (None before, and for JSONL)."""

    model_config = ConfigDict(frozen=True)

    offset: int = Field(0, ge=0)
    next_index: int = Field(0, ge=0)
    next_line: int = Field(1, ge=1)
    next_chunk: int = Field(0, ge=0)
    csv_header: list[str] | None = None

    def position(self) -> ParsePosition:
        """Where the record parser starts reading for this cursor."""
        return ParsePosition(
            offset=self.offset, next_index=self.next_index, next_line=self.next_line, csv_header=self.csv_header
        )
