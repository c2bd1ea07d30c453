"""The content cache: a repeated text costs no HF request, on the in-memory fake and on moto DynamoDB."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.fakes.in_memory import FakeEmbedder, InMemoryCacheStore, fake_vector
from tests.vectorizer.conftest import table_definition
from tests.vectorizer.hf.test_client import vector_for
from vectorizer.codec import encode_vector
from vectorizer.config import ModuleConfig, Target, resolve_target
from vectorizer.errors import HuggingFaceError
from vectorizer.hf.cache import MAX_GET_KEYS, CachedEmbedder, DynamoCacheStore, cache_key
from vectorizer.hf.client import EmbedOutcome, HuggingFaceClient
from vectorizer.hf.usage import HfUsage
from vectorizer.settings import settings_from

CACHE_TABLE = "unit-cache"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TOKEN = "hf_secretTOKENabcdefghijklmnop0123"
THROTTLED = ClientError(
    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "BatchGetItem"
)


def target(config: dict[str, Any] | None = None) -> Target:
    return resolve_target(ModuleConfig.model_validate(config or {"model": MODEL}), "passage", settings_from({}))


def embed(embedder: CachedEmbedder, texts: list[str], t: Target | None = None) -> Any:
    return asyncio.run(embedder.embed(t or target(), texts, TOKEN, time.monotonic() + 30))


@pytest.fixture(params=["in-memory", "moto"])
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "in-memory":
        return InMemoryCacheStore()
    dynamodb = request.getfixturevalue("dynamodb")
    dynamodb.create_table(TableName=CACHE_TABLE, **table_definition("CacheTable"))
    return DynamoCacheStore(dynamodb, CACHE_TABLE, ttl_days=30)


def cached_count(store: Any) -> int:
    if isinstance(store, InMemoryCacheStore):
        return len(store.vectors)
    return store._db.scan(TableName=CACHE_TABLE, Select="COUNT")["Count"]


def test_the_key_is_decided_by_url_parameters_and_text_and_not_by_wait_or_gpu() -> None:
    plain = cache_key(target(), "a cat")
    assert len(plain) == 64 and int(plain, 16) >= 0
    assert cache_key(target({"model": MODEL, "options": {"waitForModel": True, "useGPU": True}}), "a cat") == plain
    assert cache_key(target({"model": "other/model"}), "a cat") != plain
    assert cache_key(target(), "a cat ") != plain
    normalized = target().model_copy(update={"parameters": target().parameters.model_copy(update={"normalize": True})})
    assert cache_key(normalized, "a cat") != plain


def test_a_second_identical_call_makes_no_hf_request_and_returns_the_same_vectors(store: Any) -> None:
    hf = FakeEmbedder()
    embedder = CachedEmbedder(hf, store)
    first = embed(embedder, ["a cat", "a kitten"])
    second = embed(embedder, ["a cat", "a kitten"])
    assert hf.calls == [(MODEL, ("a cat", "a kitten"), TOKEN)]
    assert second.vectors == first.vectors == [fake_vector("a cat"), fake_vector("a kitten")]
    assert second.errors == {}
    assert (embedder.hits, embedder.sent) == (2, 2)
    assert cached_count(store) == 2


def test_ten_texts_with_three_distinct_send_three_texts_to_hf_and_answer_all_ten_in_order(store: Any) -> None:
    hf = FakeEmbedder()
    texts = ["a", "bb", "a", "ccc", "bb", "a", "ccc", "a", "bb", "a"]
    outcome = embed(CachedEmbedder(hf, store), texts)
    assert hf.calls == [(MODEL, ("a", "bb", "ccc"), TOKEN)]
    assert outcome.vectors == [fake_vector(text) for text in texts]
    assert cached_count(store) == 3


def test_a_call_with_only_part_cached_sends_only_the_misses(store: Any) -> None:
    hf = FakeEmbedder()
    embedder = CachedEmbedder(hf, store)
    embed(embedder, ["a", "bb"])
    outcome = embed(embedder, ["ccc", "a", "dddd", "bb"])
    assert hf.calls[1] == (MODEL, ("ccc", "dddd"), TOKEN)
    assert outcome.vectors == [fake_vector(t) for t in ["ccc", "a", "dddd", "bb"]]


def test_use_cache_false_reads_and_writes_nothing_but_still_sends_a_repeated_text_once(store: Any) -> None:
    hf = FakeEmbedder()
    embedder = CachedEmbedder(hf, store)
    no_cache = target({"model": MODEL, "options": {"useCache": False}})
    embed(embedder, ["a", "a", "bb"], no_cache)
    outcome = embed(embedder, ["a", "a", "bb"], no_cache)
    assert hf.calls == [(MODEL, ("a", "bb"), TOKEN)] * 2
    assert outcome.vectors == [fake_vector("a"), fake_vector("a"), fake_vector("bb")]
    assert cached_count(store) == 0
    if isinstance(store, InMemoryCacheStore):
        assert (store.reads, store.writes) == ([], [])


def test_another_model_or_parameters_never_get_a_cached_vector(store: Any) -> None:
    hf = FakeEmbedder()
    embedder = CachedEmbedder(hf, store)
    embed(embedder, ["a"])
    embed(embedder, ["a"], target({"model": "other/model"}))
    assert [call[0] for call in hf.calls] == [MODEL, "other/model"]


def test_a_refused_text_fails_at_every_position_and_is_not_cached(store: Any) -> None:
    refused = HuggingFaceError("input too long", status=413, code="input_too_long", item_specific=True)
    hf = FakeEmbedder(refuse={"bad": refused})
    embedder = CachedEmbedder(hf, store)
    outcome = embed(embedder, ["bad", "ok", "bad"])
    assert outcome.vectors == [None, fake_vector("ok"), None]
    assert outcome.errors == {0: refused, 2: refused}
    embed(embedder, ["bad"])
    assert hf.calls[1] == (MODEL, ("bad",), TOKEN)
    assert cached_count(store) == 1


def test_a_throttled_cache_read_still_embeds_everything_via_hf() -> None:
    hf = FakeEmbedder()
    store = InMemoryCacheStore(fail_reads=THROTTLED)
    outcome = embed(CachedEmbedder(hf, store), ["a", "bb"])
    assert hf.calls == [(MODEL, ("a", "bb"), TOKEN)]
    assert outcome.vectors == [fake_vector("a"), fake_vector("bb")]
    assert outcome.errors == {}


def test_a_failing_cache_write_never_fails_the_embedding() -> None:
    store = InMemoryCacheStore(fail_writes=THROTTLED)
    outcome = embed(CachedEmbedder(FakeEmbedder(), store), ["a"])
    assert outcome.vectors == [fake_vector("a")]
    assert outcome.errors == {}


def test_without_a_store_repeated_texts_are_still_sent_once() -> None:
    hf = FakeEmbedder()
    outcome = embed(CachedEmbedder(hf, None), ["a", "a"])
    assert hf.calls == [(MODEL, ("a",), TOKEN)]
    assert outcome.vectors == [fake_vector("a")] * 2


def test_cache_items_hold_a_hash_and_a_vector_never_the_token_or_the_text(dynamodb: Any) -> None:
    dynamodb.create_table(TableName=CACHE_TABLE, **table_definition("CacheTable"))
    embed(CachedEmbedder(FakeEmbedder(), DynamoCacheStore(dynamodb, CACHE_TABLE, ttl_days=30)), ["a secret text"])
    (item,) = dynamodb.scan(TableName=CACHE_TABLE)["Items"]
    assert set(item) == {"key", "vector", "dimensions", "ttl"}
    assert item["key"]["S"] == cache_key(target(), "a secret text")
    assert item["vector"]["B"] == encode_vector(fake_vector("a secret text"))
    assert TOKEN not in repr(item) and "a secret text" not in repr(item)
    assert 29 * 86_400 < int(item["ttl"]["N"]) - time.time() <= 30 * 86_400


class StubDynamo:
    """BatchGetItem answers scripted per call: keys it leaves unprocessed the first `unprocessed_rounds` times."""

    def __init__(self, vectors: dict[str, list[float]], unprocessed_rounds: int = 0) -> None:
        self.vectors = vectors
        self.unprocessed_rounds = unprocessed_rounds
        self.calls: list[list[str]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # boto3 names it so
        request = RequestItems[CACHE_TABLE]
        keys = [key["key"]["S"] for key in request["Keys"]]
        self.calls.append(keys)
        if len(self.calls) <= self.unprocessed_rounds:
            return {"Responses": {CACHE_TABLE: []}, "UnprocessedKeys": {CACHE_TABLE: request}}
        items = [{"key": {"S": k}, "vector": {"B": encode_vector(self.vectors[k])}} for k in keys if k in self.vectors]
        return {"Responses": {CACHE_TABLE: items}, "UnprocessedKeys": {}}


def test_cache_reads_go_in_batches_of_at_most_one_hundred_keys() -> None:
    keys = [f"k{n}" for n in range(250)]
    stub = StubDynamo({key: [1.0] for key in keys[::2]})
    found = DynamoCacheStore(stub, CACHE_TABLE, 30, sleep=lambda _: None).get_many(keys)
    assert [len(call) for call in stub.calls] == [MAX_GET_KEYS, MAX_GET_KEYS, 50]
    assert found == {key: [1.0] for key in keys[::2]}


def test_unprocessed_cache_keys_are_asked_again_and_then_found() -> None:
    stub = StubDynamo({"a": [0.5], "b": [0.25]}, unprocessed_rounds=2)
    waits: list[float] = []
    found = DynamoCacheStore(stub, CACHE_TABLE, 30, sleep=waits.append).get_many(["a", "b"])
    assert found == {"a": [0.5], "b": [0.25]}
    assert stub.calls == [["a", "b"]] * 3
    assert len(waits) == 2


def test_keys_left_unprocessed_every_round_are_misses_and_go_to_hf() -> None:
    stub = StubDynamo({}, unprocessed_rounds=100)
    hf = FakeEmbedder()
    store = DynamoCacheStore(stub, CACHE_TABLE, 30, sleep=lambda _: None)
    outcome = embed(CachedEmbedder(hf, store), ["a"])
    assert len(stub.calls) == 5
    assert hf.calls == [(MODEL, ("a",), TOKEN)]
    assert outcome.vectors == [fake_vector("a")]


def test_usage_says_what_the_dedupe_then_the_warm_cache_saved_in_exact_requests(store: Any) -> None:
    answered: list[list[str]] = []

    def hf(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        answered.append(inputs)
        return httpx.Response(200, json=[vector_for(text) for text in inputs])

    s = settings_from({"HF_BATCH_SIZE": "2"})
    texts = ["text-0", "text-1", "text-0", "text-2", "text-1", "text-0", "text-2", "text-0", "text-1", "text-0"]

    async def twice() -> tuple[EmbedOutcome, EmbedOutcome]:
        client = HuggingFaceClient(s, transport=httpx.MockTransport(hf))
        embedder = CachedEmbedder(client, store, s)
        try:
            cold = await embedder.embed(target(), texts, TOKEN, time.monotonic() + 30)
            await embedder.drain()  # the cache writes run off the call's path
            warm = await embedder.embed(target(), texts, TOKEN, time.monotonic() + 30)
            return cold, warm
        finally:
            await embedder.aclose()

    cold, warm = asyncio.run(twice())
    # Sent as they are, ten texts by twos are five requests; three distinct ones are two.
    assert answered == [["text-0", "text-1"], ["text-2"]]
    assert cold.usage == HfUsage(texts=10, cache_hits=0, sent=3, requests=2, requests_saved=3)
    assert warm.usage == HfUsage(texts=10, cache_hits=10, sent=0, requests=0, requests_saved=5)
    assert warm.vectors == cold.vectors == [vector_for(text) for text in texts]


def test_without_a_store_the_dedupe_alone_is_counted_as_saved() -> None:
    outcome = embed(CachedEmbedder(FakeEmbedder(), None, settings_from({"HF_BATCH_SIZE": "1"})), ["a", "a", "bb"])
    # The fake sends its distinct texts in one request: of the three a one-by-one client would
    # make, two are saved.
    assert outcome.usage == HfUsage(texts=3, cache_hits=0, sent=2, requests=1, requests_saved=2)


def test_cache_reads_and_writes_run_off_the_event_loop_thread() -> None:
    threads: list[str] = []

    class WatchedStore(InMemoryCacheStore):
        def get_many(self, keys: list[str]) -> dict[str, list[float]]:
            threads.append(threading.current_thread().name)
            return super().get_many(keys)

        def put_many(self, vectors: dict[str, list[float]]) -> None:
            threads.append(threading.current_thread().name)
            super().put_many(vectors)

    outcome = embed(CachedEmbedder(FakeEmbedder(), WatchedStore()), ["a"])
    assert outcome.vectors == [fake_vector("a")]
    assert len(threads) == 2
    assert threading.main_thread().name not in threads  # asyncio.run's loop runs on the main thread


def test_embed_answers_before_its_cache_write_ends_and_drain_waits_for_it() -> None:
    release = threading.Event()

    class SlowStore(InMemoryCacheStore):
        def put_many(self, vectors: dict[str, list[float]]) -> None:
            release.wait(10)
            super().put_many(vectors)

    store = SlowStore()
    embedder = CachedEmbedder(FakeEmbedder(), store)

    async def scenario() -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
        outcome = await embedder.embed(target(), ["a", "b"], None, time.monotonic() + 30)
        before = dict(store.vectors)  # the write is still held: nothing stored yet
        release.set()
        await embedder.drain()
        return outcome.vectors, before, dict(store.vectors)

    vectors, before, after = asyncio.run(scenario())
    assert vectors == [fake_vector("a"), fake_vector("b")]
    assert (before, len(after)) == ({}, 2)
    assert embed(embedder, ["a", "b"]).usage.cache_hits == 2


def test_held_writes_wait_for_drain_and_then_fill_the_cache() -> None:
    store = InMemoryCacheStore()
    embedder = CachedEmbedder(FakeEmbedder(), store)
    embedder.hold_writes = True

    async def scenario() -> tuple[int, int]:
        await embedder.embed(target(), ["a", "b"], None, time.monotonic() + 30)
        await asyncio.sleep(0.05)  # a write started at once would have landed by now
        before = len(store.vectors)
        await embedder.drain()
        return before, len(store.vectors)

    assert asyncio.run(scenario()) == (0, 2)
