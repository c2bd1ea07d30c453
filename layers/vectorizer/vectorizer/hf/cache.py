"""A repeated text costs nothing: a content cache of vectors in front of `HuggingFaceClient.embed`.

A vector is decided by where it is computed (the target URL: a model under the HF base, or an
endpoint), the feature parameters that change it (normalize, truncate, prompt_name...) and the
text; `cache_key` hashes exactly those. `wait_for_model` and `use_gpu` change how HF answers,
never what, so they stay out of the key. `CachedEmbedder` reads the cache, sends only the misses
to HF, each distinct text once, then fills the cache; the cache is best-effort throughout: a
cache that fails is logged and costs HF requests, never a vector. Its DynamoDB reads and writes
run on a worker thread: the event loop is the container's, shared by every record in flight,
and a blocking call on it would hold up their HF requests too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from vectorizer.batch_write import batch_write
from vectorizer.codec import decode_vector, encode_vector
from vectorizer.config import Target
from vectorizer.hf.client import EmbedOutcome, hf_batches
from vectorizer.hf.usage import HfUsage
from vectorizer.settings import Settings, settings_from

logger = logging.getLogger(__name__)

MAX_GET_KEYS = 100  # BatchGetItem's limit per call
MAX_GET_ROUNDS = 5


def cache_key(target: Target, text: str) -> str:
    """Takes the target and one text; returns the hex SHA-256 naming the vector they decide.

    The URL, the parameters a caller set and the text, as canonical JSON, so that no two
    different triples can join into the same bytes.
    """
    decided_by = {"url": target.url, "parameters": target.parameters.body_fields(), "text": text}
    canonical = json.dumps(decided_by, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CacheStorePort(Protocol):
    """Vectors by cache key (`DynamoCacheStore`; `tests/fakes/in_memory.py` has the fake)."""

    def get_many(self, keys: list[str]) -> dict[str, list[float]]: ...

    def put_many(self, vectors: dict[str, list[float]]) -> None: ...


class DynamoCacheStore:
    """The cache on a DynamoDB table keyed by `key`, vectors as little-endian float32, with a TTL."""

    def __init__(
        self,
        dynamodb_client: Any,
        table: str,
        ttl_days: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._db = dynamodb_client
        self._table = table
        self._ttl_days = ttl_days
        self._sleep = sleep
        self._rng = rng or random.Random()

    def get_many(self, keys: list[str]) -> dict[str, list[float]]:
        """Takes cache keys; returns the vectors found, by key (a key absent from the answer is a miss).

        Reads in `BatchGetItem` calls of at most 100 keys and asks again for the keys DynamoDB
        left unprocessed (throttling), with backoff; keys still unprocessed after that count as
        misses. AWS errors propagate: the caller decides that a cache failure is a miss.
        """
        found: dict[str, list[float]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), MAX_GET_KEYS):
            pending: dict[str, Any] = {
                "Keys": [{"key": {"S": key}} for key in unique[start:start + MAX_GET_KEYS]],
                "ProjectionExpression": "#k, vector",
                "ExpressionAttributeNames": {"#k": "key"},
            }
            for round_number in range(1, MAX_GET_ROUNDS + 1):
                answer = self._db.batch_get_item(RequestItems={self._table: pending})
                for item in answer.get("Responses", {}).get(self._table, []):
                    found[item["key"]["S"]] = decode_vector(item["vector"]["B"])
                pending = answer.get("UnprocessedKeys", {}).get(self._table)
                if not pending or not pending.get("Keys"):
                    break
                if round_number == MAX_GET_ROUNDS:
                    logger.warning("cache read: %d key(s) still unprocessed, treated as misses", len(pending["Keys"]))
                    break
                self._sleep(self._rng.uniform(0, min(1.0, 0.05 * 2 ** round_number)))
        return found

    def put_many(self, vectors: dict[str, list[float]]) -> None:
        """Takes vectors by cache key; writes them (25 a call, unprocessed ones again), each with its TTL."""
        ttl = str(int(time.time()) + self._ttl_days * 86_400)
        requests = [
            {"PutRequest": {"Item": {
                "key": {"S": key}, "vector": {"B": encode_vector(vector)},
                "dimensions": {"N": str(len(vector))}, "ttl": {"N": ttl},
            }}}
            for key, vector in vectors.items()
        ]
        batch_write(self._db, self._table, requests, sleep=self._sleep, rng=self._rng)


class Embedder(Protocol):
    """What `CachedEmbedder` wraps: `HuggingFaceClient.embed`'s signature."""

    async def embed(self, target: Target, texts: list[str], token: str | None, deadline: float) -> EmbedOutcome: ...


def distinct_texts(texts: Iterable[str]) -> list[str]:
    """Takes texts; returns each distinct one once, in order of first appearance."""
    return list(dict.fromkeys(texts))


class CachedEmbedder:
    """`HuggingFaceClient.embed` behind the content cache and per-call dedupe; same signature, same result.

    `store` None (no `CACHE_TABLE`) keeps the dedupe and skips the cache. `settings` give the
    HF batch bounds the client packs requests by (default: the defaults), so that each call can
    say how many requests the cache and dedupe saved. `hits` and `sent` count, over this
    embedder's life, the texts answered from the cache and the texts sent to HF.
    """

    def __init__(self, client: Embedder, store: CacheStorePort | None, settings: Settings | None = None) -> None:
        self.client = client
        self.store = store
        self.settings = settings or settings_from({})
        self.hits = 0
        self.sent = 0
        # Cache writes still in flight: a caller has its vectors without waiting for them.
        self._writes: set[asyncio.Future[None]] = set()
        # With `hold_writes`, writes wait for `drain` instead: the worker sets it, so that a chunk's
        # own vector writes never queue behind cache writes, and fills the cache once its records end.
        self.hold_writes = False
        self._held: list[dict[str, list[float]]] = []

    async def drain(self) -> None:
        """Waits until every cache write started so far has ended (a failed one is logged, never raised).

        A write is best-effort and off the caller's path: `embed` returns as soon as the vectors
        are known; writes held (`hold_writes`) start here. Whoever must not leave writes behind
        (the worker, once per invocation) drains; the API does not, and a write still running when
        its Lambda freezes finishes, or fails and is logged, when it thaws.
        """
        loop = asyncio.get_running_loop()
        held, self._held = self._held, []
        for vectors in held:
            self._start_write(loop, vectors)
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    def _start_write(self, loop: asyncio.AbstractEventLoop, vectors: dict[str, list[float]]) -> None:
        write = loop.run_in_executor(None, self._write, vectors)
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    async def aclose(self) -> None:
        """Closes the wrapped client's pooled HTTP client, when it has one."""
        close = getattr(self.client, "aclose", None)
        if close is not None:
            await close()

    @property
    def concurrency_limit(self) -> int | None:
        """The wrapped client's current limit on HF requests in flight; None when it has none."""
        return getattr(self.client, "concurrency_limit", None)

    def requests_without_savings(self, texts: list[str]) -> int:
        """Takes every input of a call; returns the HF requests they would need, sent as they are."""
        return len(hf_batches(texts, self.settings))

    async def embed(self, target: Target, texts: list[str], token: str | None, deadline: float) -> EmbedOutcome:
        """Vectorize `texts` before `deadline` (a `time.monotonic()` value), as `HuggingFaceClient.embed` does.

        Returns one entry per input, in input order: its vector (from the cache, or from HF), or
        its error. Repeated texts go to HF once and share the answer; `use_cache` false in the
        target's options reads and writes no cache. Every vector has the same width. The
        outcome's usage counts the inputs, those answered from the cache, the distinct texts sent,
        the client's requests, and the requests saved against sending every input as it is.
        """
        unique = distinct_texts(texts)
        use_store = self.store is not None and target.options.use_cache
        keys = {text: cache_key(target, text) for text in unique} if use_store else {}
        cached = await asyncio.to_thread(self._read, list(keys.values())) if use_store else {}
        answers: dict[str, list[float]] = {text: cached[keys[text]] for text in unique if keys.get(text) in cached}
        misses = [text for text in unique if text not in answers]
        fresh = await self.client.embed(target, misses, token, deadline) if misses else EmbedOutcome([])
        self.hits += len(answers)
        self.sent += len(misses)
        errors_of = {misses[position]: error for position, error in fresh.errors.items()}
        new = {text: vector for text, vector in zip(misses, fresh.vectors, strict=True) if vector is not None}
        answers.update(new)
        requests = fresh.usage.requests
        usage = HfUsage(
            texts=len(texts),
            cache_hits=sum(1 for text in texts if keys.get(text) in cached),
            sent=len(misses),
            requests=requests,
            requests_saved=max(0, self.requests_without_savings(texts) - requests),
        )
        outcome = EmbedOutcome(vectors=[answers.get(text) for text in texts], usage=usage)
        outcome.errors = {index: errors_of[text] for index, text in enumerate(texts) if text in errors_of}
        width = outcome.common_width()
        if width is not None:
            # A cached vector and a fresh one can differ when an endpoint started serving another model.
            outcome.keep_width(width, "this request's other vectors")
        if use_store and new:
            kept = {keys[text]: vector for text, vector in new.items() if len(vector) == width}
            if self.hold_writes:
                self._held.append(kept)
            else:
                self._start_write(asyncio.get_running_loop(), kept)
        return outcome

    def _read(self, keys: list[str]) -> dict[str, list[float]]:
        try:
            return self.store.get_many(keys) if self.store is not None else {}
        except Exception as error:  # best-effort: a failing cache is a miss, never a failure
            logger.warning("cache read failed, %d text(s) go to HF: %s: %s", len(keys), type(error).__name__, error)
            return {}

    def _write(self, vectors: dict[str, list[float]]) -> None:
        try:
            if self.store is not None and vectors:
                self.store.put_many(vectors)
        except Exception as error:  # best-effort: the vectors are already answered
            logger.warning("cache write of %d vector(s) failed: %s: %s", len(vectors), type(error).__name__, error)
