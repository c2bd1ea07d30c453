"""The work-queue message: the documented schema that the API and outside producers both send.

One message carries one chunk of one job. `chunks` (how many messages the job has) lets the
job close when the last one is done; a producer that does not know it may leave it out, and the
job then reports on the chunks it has seen.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vectorizer.config import ModuleConfig, Purpose

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
ITEM_ID_MAX_LENGTH = 512


class ChunkItem(BaseModel):
    """One text of a job: its position in the job (`index`), the caller's `id` and the `text`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    id: str | None = Field(None, max_length=ITEM_ID_MAX_LENGTH)
    text: str


class ChunkMessage(BaseModel):
    """One queue message: chunk `chunk` of job `jobId`, its config, purpose, items and sealed token."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    version: Literal[1] = 1
    job_id: str = Field(alias="jobId", pattern=JOB_ID_PATTERN)
    chunk: int = Field(ge=0)
    chunks: int | None = Field(None, ge=1)
    total: int | None = Field(None, ge=1)
    config: ModuleConfig = Field(default_factory=ModuleConfig)
    purpose: Purpose = "passage"
    items: list[ChunkItem] = Field(min_length=1)
    # A caller's own HF token, sealed with the stack's KMS key under the job id; never plaintext.
    sealed_token: str | None = Field(None, alias="sealedToken")

    def to_json(self) -> str:
        """The message body as sent: JSON with the public (camelCase) names, absent fields left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True)


def _item_bytes(item: ChunkItem) -> int:
    # +1 for the comma between items in the array.
    return len(item.model_dump_json(exclude_none=True).encode("utf-8")) + 1


def plan_chunks(
    items: list[ChunkItem], *, chunk_size: int, max_message_bytes: int, envelope_bytes: int
) -> list[list[ChunkItem]]:
    """Split items into chunks of at most `chunk_size`, each message under `max_message_bytes`.

    `envelope_bytes` is the size of the message around its items (config, ids, sealed token).
    Returns the chunks in item order. A single item too large for any message is a caller error
    checked before this point; here it raises ValueError.
    """
    budget = max_message_bytes - envelope_bytes
    chunks: list[list[ChunkItem]] = []
    current: list[ChunkItem] = []
    used = 0
    for item in items:
        size = _item_bytes(item)
        if size > budget:
            raise ValueError(f"item {item.index} needs {size} bytes, over the {budget}-byte budget")
        if current and (len(current) >= chunk_size or used + size > budget):
            chunks.append(current)
            current, used = [], 0
        current.append(item)
        used += size
    if current:
        chunks.append(current)
    return chunks


def envelope_size(template: ChunkMessage) -> int:
    """Takes a message; returns its bytes without items, plus room for the widest chunk and count numbers."""
    shell = json.loads(template.to_json())
    shell["items"] = []
    return len(json.dumps(shell, ensure_ascii=False).encode("utf-8")) + 32
