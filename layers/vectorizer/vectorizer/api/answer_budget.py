"""How many bytes an answer takes where it counts: inside Lambda's response envelope.

Lambda returns at most 6 MB from a synchronous invocation, and the limit applies to the proxy
result as the runtime serialises it: the body is a JSON string inside that envelope, so each `"`
of the body costs two bytes, and the Python 3.11 runtime writes every non-ASCII character as a
`\\uXXXX` escape (six bytes, twelve outside the BMP). Past the limit API Gateway answers a bare
502, after Hugging Face has been paid. So every answer is planned, or cut, to fit a budget
(`ANSWER_BUDGET_BYTES`) with room to spare under the limit.

Vectors are estimated before any Hugging Face call: texts x dimensions x bytes per number. A
number as this service writes it (Python's shortest round-trip repr of a float32 value) takes 19
to 21 bytes on average with its comma, measured on normal samples of scale 0.05 to 3, and 24 at
most (`-1.2345679351710714e-05,`); the estimate uses the most. The dimensions are those seen
for the same target earlier in this container (`DimensionsMemory`), else `GUESSED_DIMENSIONS`,
which no model this service is meant for exceeds, so a guess never undershoots.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

# Lambda's synchronous response limit, the proxy envelope included.
LAMBDA_RESPONSE_LIMIT = 6_000_000
# The widest embeddings of the models this service is meant for (e.g. 4096 for 7B-class
# embedding models); a guess this large never undershoots their answers.
GUESSED_DIMENSIONS = 4096
# The most one number of a vector takes in a JSON answer, its separating comma included.
JSON_NUMBER_BYTES = 24
# Brackets and the comma around one vector.
VECTOR_FRAME_BYTES = 3
# What an answer costs besides its vectors and ids (keys, model name, status fields).
ANSWER_FRAME_BYTES = 4_096
# An item error's message is cut to this many characters wherever it is reported.
ERROR_MESSAGE_CHARS = 1000
# The most one item's error entry can take: a message of ERROR_MESSAGE_CHARS characters, each at
# most twelve envelope bytes (a character outside the BMP), plus its keys and index.
ERROR_ENTRY_BYTES = ERROR_MESSAGE_CHARS * 12 + 64


def dumps(value: Any) -> str:
    """`value` as the API writes JSON: compact, non-ASCII as itself (no `\\u` escapes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def envelope_bytes(body: str) -> int:
    """The bytes `body` (an answer's JSON text) takes inside Lambda's response envelope."""
    return len(json.dumps(body))


def json_vector_bytes(dimensions: int) -> int:
    """The most one vector of `dimensions` numbers takes as a JSON array in an answer."""
    return dimensions * JSON_NUMBER_BYTES + VECTOR_FRAME_BYTES


def base64_vector_bytes(dimensions: int) -> int:
    """One vector as base64 of little-endian float32 (OpenAI's `encoding_format: base64`), quoted."""
    return 4 * math.ceil(dimensions * 4 / 3) + VECTOR_FRAME_BYTES


class DimensionsMemory:
    """The dimensions each target answered with earlier in this container, for the estimates.

    Keyed by the target's URL (a model or an endpoint); the oldest entries are dropped past
    `capacity`, so a caller naming endless models cannot grow it.
    """

    def __init__(self, capacity: int = 256) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._capacity = capacity

    def recall(self, key: str) -> int | None:
        """The dimensions last seen for `key`, or None."""
        dimensions = self._seen.get(key)
        if dimensions is not None:
            self._seen.move_to_end(key)
        return dimensions

    def remember(self, key: str, dimensions: int | None) -> None:
        """Keep `dimensions` for `key` (None, when nothing was learned, is ignored)."""
        if not dimensions:
            return
        self._seen[key] = dimensions
        self._seen.move_to_end(key)
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)


def expected_dimensions(known: int | None) -> int:
    """The dimensions to plan for: those known, else the guess that never undershoots."""
    return known if known is not None else GUESSED_DIMENSIONS


def fitting_count(entries: Sequence[Any], room: int) -> int:
    """How many of `entries` (JSON-ready values, listed in order in an answer) fit in `room` bytes.

    Each entry is counted as it takes inside the envelope, with its separating comma; the first
    entry that would overflow ends the list.
    """
    used = 0
    for count, entry in enumerate(entries):
        used += envelope_bytes(dumps(entry)) - 2 + 1  # no quotes of its own; one comma
        if used > room:
            return count
    return len(entries)
