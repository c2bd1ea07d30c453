"""The work-queue message: the documented schema that the API and outside producers both send.

One message carries one chunk of one job. `chunks` (how many messages the job has) lets the
job close when the last one is done; a producer that does not know it may leave it out, and the
job then reports on the chunks it has seen. A message must agree with itself: its chunk number
below its `chunks`, its item indexes below its `total` and each used once.

The API signs the chunks of its own jobs (`signature`: HMAC-SHA256 under a random key kept in
the job record), so that a message from anyone else can never touch a job the API created.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vectorizer.config import ModuleConfig, Purpose
from vectorizer.packing import pack, pack_runs

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
ITEM_ID_MAX_LENGTH = 512
ITEM_ERROR_MAX_LENGTH = 1000
SIGNATURE_PATTERN = r"^[0-9a-f]{64}$"


class ChunkItem(BaseModel):
    """One text of a job: its position in the job (`index`), the caller's `id` and the `text`.

    A producer that could not read an item (a malformed line of a file) sends it with `error`
    instead: it is recorded failed with exactly that error and never sent to HF. `line` is where
    the item came from in a source file, carried to its stored vector.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    id: str | None = Field(None, max_length=ITEM_ID_MAX_LENGTH)
    text: str
    error: str | None = Field(
        None, min_length=1, max_length=ITEM_ERROR_MAX_LENGTH,
        description="Why this item has no text to embed (e.g. `line 17: not valid JSON`): the item is recorded "
        "failed with exactly this error and never sent to Hugging Face; its `text` may then be empty.",
    )
    line: int | None = Field(None, ge=1, description="The item's 1-based line number in its source file, if any.")


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
    signature: str | None = Field(
        None,
        pattern=SIGNATURE_PATTERN,
        description=(
            "Set by the API on the chunks of the jobs it creates, and required on them: the "
            "HMAC-SHA256 (hex) of the rest of the message under a random key that only the job "
            "record holds. A message for an API job without it, or with one that does not match, "
            "is parked on the dead-letter queue. Outside producers leave it out: a job first seen "
            "on the queue is their own, and takes unsigned messages."
        ),
    )

    @model_validator(mode="after")
    def _agrees_with_itself(self) -> Self:
        """Refuse a message whose numbers contradict each other: the job could never add up."""
        if self.chunks is not None and self.chunk >= self.chunks:
            raise ValueError(f"chunk {self.chunk} is past the message's {self.chunks} chunks (numbered from 0)")
        if self.total is not None and self.chunks is not None and self.chunks > self.total:
            raise ValueError(f"{self.chunks} chunks cannot hold only {self.total} items (a chunk has at least one)")
        seen: set[int] = set()
        for item in self.items:
            if item.index in seen:
                raise ValueError(f"item index {item.index} appears more than once in the message")
            seen.add(item.index)
            if self.total is not None and item.index >= self.total:
                raise ValueError(
                    f"item index {item.index} is past the message's total of {self.total} items (numbered from 0)"
                )
        return self

    def to_json(self) -> str:
        """The message body as sent: JSON with the public (camelCase) names, absent fields left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True)


def _signed_bytes(message: ChunkMessage) -> bytes:
    """The message without its signature, in one canonical JSON form, whatever order it arrived in.

    Values equal to their defaults are left out, so a field added to the schema later (with a
    default) does not change the signatures of messages already on the queue.
    """
    content = message.model_dump(mode="json", by_alias=True, exclude={"signature"}, exclude_defaults=True)
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def chunk_signature(message: ChunkMessage, key: str) -> str:
    """The hex HMAC-SHA256 of everything in `message` but its signature, under the job's `key`.

    It covers the job id, the chunk and chunk count, the total, the items (indexes, ids and
    texts), the config, the purpose and the sealed token: a message changed in any of them, or
    moved to another job or chunk number, no longer matches.
    """
    return hmac.new(key.encode("utf-8"), _signed_bytes(message), hashlib.sha256).hexdigest()


def signed(message: ChunkMessage, key: str) -> ChunkMessage:
    """A copy of `message` carrying its signature under `key`."""
    return message.model_copy(update={"signature": chunk_signature(message, key)})


def signature_matches(message: ChunkMessage, key: str) -> bool:
    """Whether `message` carries the signature `key` gives it, compared in constant time."""
    if message.signature is None:
        return False
    return hmac.compare_digest(message.signature, chunk_signature(message, key))


def _item_bytes(item: ChunkItem) -> int:
    # +1 for the comma between items in the array.
    return len(item.model_dump_json(exclude_none=True).encode("utf-8")) + 1


# With repeats kept together, a chunk holds at most this many times `chunk_size` items.
REPEATS_PER_CHUNK = 10


def plan_chunks(
    items: list[ChunkItem], *, chunk_size: int, max_message_bytes: int, envelope_bytes: int,
    keep_repeats_together: bool = False,
) -> list[list[ChunkItem]]:
    """Split items into chunks of at most `chunk_size`, each message under `max_message_bytes`.

    `envelope_bytes` is the size of the message around its items (config, ids, sealed token).
    With `keep_repeats_together`, consecutive items of one text start a new chunk rather than
    straddle two (see `repeats_together`), and `chunk_size` bounds a chunk's distinct texts: a
    job's copies of a text ride along with it, up to `REPEATS_PER_CHUNK` times `chunk_size`
    items, so that a chunk sends HF as many texts as it would without repeats. Returns the
    chunks in item order. A single item too large for any message is a caller error checked
    before this point; here it raises ValueError.
    """
    budget = max_message_bytes - envelope_bytes
    sizes = [_item_bytes(item) for item in items]
    for item, size in zip(items, sizes, strict=True):
        if size > budget:
            raise ValueError(f"item {item.index} needs {size} bytes, over the {budget}-byte budget")
    if keep_repeats_together:
        # `chunk_size` distinct texts a chunk (what HF is sent), with their copies, up to
        # REPEATS_PER_CHUNK times as many items (what DynamoDB is written).
        groups = pack_runs(sizes, [item.text for item in items], max_count=chunk_size * REPEATS_PER_CHUNK,
                           max_bytes=budget, max_runs=chunk_size)
    else:
        groups = pack(sizes, max_count=chunk_size, max_bytes=budget)
    return [[items[i] for i in group] for group in groups]


def repeats_together(items: list[ChunkItem]) -> list[ChunkItem]:
    """Takes a job's items; returns them with every copy of a text next to its first, otherwise in order.

    A chunk sends each of its distinct texts to HF once, but chunks run side by side and cannot
    wait for each other's cache writes: a text spread over several chunks would be sent by each.
    Kept together, the copies of a text land in one chunk (unless they outnumber a chunk), so a
    job pays HF for its distinct texts only. Items keep their indexes: order within a job is the
    indexes', never the queue's.
    """
    first_seen: dict[str, int] = {}
    for position, item in enumerate(items):
        first_seen.setdefault(item.text, position)
    return sorted(items, key=lambda item: first_seen[item.text])


def envelope_size(template: ChunkMessage) -> int:
    """Takes a message; returns its bytes without items, plus room for the widest chunk and count numbers."""
    shell = json.loads(template.to_json())
    shell["items"] = []
    return len(json.dumps(shell, ensure_ascii=False).encode("utf-8")) + 32
