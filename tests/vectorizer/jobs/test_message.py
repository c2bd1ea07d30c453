"""The work-queue message schema, and how a job's items are planned into messages."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from pydantic import ValidationError

from vectorizer.config import ModuleConfig
from vectorizer.jobs.message import ChunkItem, ChunkMessage, envelope_size, plan_chunks, repeats_together

SQS_MAX_MESSAGE_BYTES = 1_048_576


def valid_message(**overrides: Any) -> dict[str, Any]:
    return {
        "version": 1, "jobId": "job-1", "chunk": 0, "chunks": 2, "total": 3,
        "config": {"model": "org/model"}, "purpose": "query",
        "items": [{"index": 0, "id": "doc-0", "text": "hello"}, {"index": 1, "text": "world"}],
        "sealedToken": "c2VhbGVk", **overrides,
    }


def errors_of(raw: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        ChunkMessage.model_validate(raw)
    return [(tuple(e["loc"]), e["type"]) for e in caught.value.errors()]


# ------------------------------------------------------------------ schema


def test_documented_message_parses_from_its_aliases() -> None:
    message = ChunkMessage.model_validate_json(json.dumps(valid_message()))
    assert message.version == 1
    assert message.job_id == "job-1"
    assert (message.chunk, message.chunks, message.total) == (0, 2, 3)
    assert message.config == ModuleConfig.model_validate({"model": "org/model"})
    assert message.purpose == "query"
    assert message.items == [ChunkItem(index=0, id="doc-0", text="hello"), ChunkItem(index=1, text="world")]
    assert message.sealed_token == "c2VhbGVk"


def test_minimal_message_takes_the_defaults() -> None:
    message = ChunkMessage.model_validate({"jobId": "j", "chunk": 3, "items": [{"index": 9, "text": "t"}]})
    assert message.version == 1
    assert (message.chunks, message.total, message.sealed_token) == (None, None, None)
    assert message.purpose == "passage"
    assert message.config == ModuleConfig()


def test_python_names_are_accepted_too() -> None:
    message = ChunkMessage(job_id="j", chunk=0, items=[ChunkItem(index=0, text="t")], sealed_token="s")
    assert (message.job_id, message.sealed_token) == ("j", "s")


def test_to_json_uses_aliases_and_leaves_out_unset_values() -> None:
    message = ChunkMessage(job_id="j1", chunk=0, items=[ChunkItem(index=0, text="t")])
    assert message.to_json() == (
        '{"version":1,"jobId":"j1","chunk":0,'
        '"config":{"options":{"waitForModel":false,"useGPU":false,"useCache":true},"vectorizeClassName":true},'
        '"purpose":"passage","items":[{"index":0,"text":"t"}]}'
    )


def test_to_json_round_trips() -> None:
    message = ChunkMessage.model_validate(valid_message())
    assert ChunkMessage.model_validate_json(message.to_json()) == message
    assert json.loads(message.to_json())["sealedToken"] == "c2VhbGVk"
    assert "sealed_token" not in message.to_json()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"extra": 1}, [(("extra",), "extra_forbidden")]),
        ({"job_id": "x"}, [(("job_id",), "extra_forbidden")]),
        ({"items": [{"index": 0, "text": "t", "vector": [1]}]}, [(("items", 0, "vector"), "extra_forbidden")]),
        ({"version": 2}, [(("version",), "literal_error")]),
        ({"chunk": -1}, [(("chunk",), "greater_than_equal")]),
        ({"chunks": 0}, [(("chunks",), "greater_than_equal")]),
        ({"total": 0}, [(("total",), "greater_than_equal")]),
        ({"items": []}, [(("items",), "too_short")]),
        ({"items": [{"index": -1, "text": "t"}]}, [(("items", 0, "index"), "greater_than_equal")]),
        ({"items": [{"index": 0}]}, [(("items", 0, "text"), "missing")]),
        ({"items": [{"index": 0, "text": "t", "id": "i" * 513}]}, [(("items", 0, "id"), "string_too_long")]),
        ({"purpose": "document"}, [(("purpose",), "literal_error")]),
        ({"config": {"model": "a/m", "passageModel": "a/p"}}, [(("config",), "invalid_config")]),
        ({"config": {"nope": 1}}, [(("config",), "invalid_config")]),
    ],
)
def test_schema_refusals(overrides: dict[str, Any], expected: list[tuple[tuple[Any, ...], str]]) -> None:
    assert errors_of(valid_message(**overrides)) == expected


def test_job_id_is_required() -> None:
    raw = valid_message()
    del raw["jobId"]
    assert errors_of(raw) == [(("jobId",), "missing")]


@pytest.mark.parametrize("job_id", ["a", "0f8e2b", "Job_1.2:3-4", "a" * 128])
def test_job_id_pattern_accepts(job_id: str) -> None:
    assert ChunkMessage.model_validate(valid_message(jobId=job_id)).job_id == job_id


@pytest.mark.parametrize("job_id", ["", "-leading", ".leading", "has space", "a/b", "a#b", "a" * 129, "é"])
def test_job_id_pattern_refuses(job_id: str) -> None:
    assert errors_of(valid_message(jobId=job_id)) == [(("jobId",), "string_pattern_mismatch")]


# ------------------------------------------------------------------ planning chunks


def items_of(texts: list[str], ids: bool = False) -> list[ChunkItem]:
    return [ChunkItem(index=i, id=(f"doc-{i}" if ids else None), text=t) for i, t in enumerate(texts)]


def item_bytes(item: ChunkItem) -> int:
    return len(item.model_dump_json(exclude_none=True).encode("utf-8")) + 1


def test_chunks_hold_at_most_chunk_size_items_in_order() -> None:
    items = items_of([f"t{i}" for i in range(10)])
    chunks = plan_chunks(items, chunk_size=3, max_message_bytes=100_000, envelope_bytes=500)
    assert [[item.index for item in chunk] for chunk in chunks] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_one_chunk_when_everything_fits() -> None:
    items = items_of(["a", "b"])
    assert plan_chunks(items, chunk_size=256, max_message_bytes=10_000, envelope_bytes=100) == [items]


def test_empty_input_plans_no_chunk() -> None:
    assert plan_chunks([], chunk_size=5, max_message_bytes=10_000, envelope_bytes=100) == []


def test_chunks_are_cut_by_bytes_before_chunk_size() -> None:
    items = items_of(["x" * 90] * 10)
    size = item_bytes(items[0])
    assert size == len('{"index":0,"text":"' + "x" * 90 + '"}') + 1 == 112
    # Room for exactly three items (336 bytes) after a 200-byte envelope.
    chunks = plan_chunks(items, chunk_size=256, max_message_bytes=200 + 3 * size + 2, envelope_bytes=200)
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]


def test_bytes_are_counted_in_utf8_not_characters() -> None:
    items = items_of(["é" * 50] * 4)  # 100 bytes of text each, 50 characters
    size = item_bytes(items[0])
    assert size == 19 + 100 + 2 + 1
    chunks = plan_chunks(items, chunk_size=256, max_message_bytes=100 + 2 * size, envelope_bytes=100)
    assert [len(chunk) for chunk in chunks] == [2, 2]


def test_an_item_too_large_for_any_message_is_refused() -> None:
    items = items_of(["small", "y" * 1000, "small"])
    with pytest.raises(ValueError, match=r"^item 1 needs 1022 bytes, over the 900-byte budget$"):
        plan_chunks(items, chunk_size=10, max_message_bytes=1000, envelope_bytes=100)


def build_messages(
    texts: list[str], *, chunk_size: int, max_message_bytes: int, sealed: str | None, ids: bool
) -> list[str]:
    """The way a job's messages are built: a one-item shell sizes the envelope, then one per chunk."""
    items = items_of(texts, ids=ids)
    config = ModuleConfig.model_validate({
        "passageModel": "org/" + "p" * 90, "queryModel": "org/" + "q" * 90,
        "options": {"waitForModel": True, "useCache": False},
    })
    shell = ChunkMessage(
        job_id="f" * 32, chunk=0, chunks=1, total=len(items), config=config, purpose="query",
        items=items[:1], sealed_token=sealed,
    )
    planned = plan_chunks(
        items, chunk_size=chunk_size, max_message_bytes=max_message_bytes, envelope_bytes=envelope_size(shell)
    )
    assert [item for chunk in planned for item in chunk] == items  # nothing lost, nothing reordered
    return [
        shell.model_copy(update={"chunk": n, "chunks": len(planned), "items": chunk}).to_json()
        for n, chunk in enumerate(planned)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_planned_message_stays_under_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "abc xyz é ü 東京 🙂 \" \\ \n\t\x01"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3000))) for _ in range(400)]
    limit = 20_000
    bodies = build_messages(texts, chunk_size=64, max_message_bytes=limit, sealed="S" * 400, ids=True)
    sizes = [len(body.encode("utf-8")) for body in bodies]
    assert max(sizes) <= limit
    assert len(bodies) > 10  # the limit really was the binding constraint
    for n, body in enumerate(bodies):
        decoded = json.loads(body)
        assert (decoded["chunk"], decoded["chunks"]) == (n, len(bodies))
        assert len(decoded["items"]) <= 64
    rebuilt = [item["text"] for body in bodies for item in json.loads(body)["items"]]
    assert rebuilt == texts


def test_chunk_size_binds_when_items_are_small() -> None:
    bodies = build_messages([f"t{i}" for i in range(1000)], chunk_size=256, max_message_bytes=900_000,
                            sealed=None, ids=False)
    assert [len(json.loads(b)["items"]) for b in bodies] == [256, 256, 256, 232]


def test_default_settings_keep_a_full_chunk_of_maximum_texts_under_the_sqs_limit() -> None:
    # 256 texts of 20,000 characters cannot share one message: the planner must split them.
    texts = ["🙂" * 20_000] * 60  # 80,000 bytes each in UTF-8
    bodies = build_messages(texts, chunk_size=256, max_message_bytes=900_000, sealed="S" * 1500, ids=True)
    sizes = [len(body.encode("utf-8")) for body in bodies]
    assert max(sizes) <= 900_000 < SQS_MAX_MESSAGE_BYTES
    assert [len(json.loads(b)["items"]) for b in bodies] == [11, 11, 11, 11, 11, 5]


def test_envelope_size_is_the_message_without_items_plus_room_for_numbers() -> None:
    shell = ChunkMessage(job_id="j1", chunk=0, chunks=1, total=1, items=[ChunkItem(index=0, text="x")])
    without_items = (
        '{"version": 1, "jobId": "j1", "chunk": 0, "chunks": 1, "total": 1, '
        '"config": {"options": {"waitForModel": false, "useGPU": false, "useCache": true}, '
        '"vectorizeClassName": true}, "purpose": "passage", "items": []}'
    )
    assert envelope_size(shell) == len(without_items) + 32


def test_envelope_size_counts_the_sealed_token_and_non_ascii_config() -> None:
    plain = ChunkMessage(job_id="j1", chunk=0, items=[ChunkItem(index=0, text="x")])
    sealed = plain.model_copy(update={"sealed_token": "A" * 1000})
    assert envelope_size(sealed) - envelope_size(plain) == len(', "sealedToken": ""') + 1000
    # The items of the shell never count.
    bigger_items = plain.model_copy(update={"items": [ChunkItem(index=0, text="x" * 5000)]})
    assert envelope_size(bigger_items) == envelope_size(plain)


def test_envelope_margin_covers_the_widest_chunk_numbers() -> None:
    shell = ChunkMessage(job_id="j", chunk=0, chunks=1, total=1, items=[ChunkItem(index=0, text="x")])
    widest = shell.model_copy(update={"chunk": 999_999, "chunks": 1_000_000, "items": []})
    assert len(widest.to_json().encode()) <= envelope_size(shell)


def test_repeats_together_puts_every_copy_beside_its_first_and_keeps_the_rest_in_order() -> None:
    items = [ChunkItem(index=i, text=text) for i, text in enumerate(["a", "b", "a", "c", "b", "a"])]

    grouped = repeats_together(items)

    assert [(item.index, item.text) for item in grouped] == [(0, "a"), (2, "a"), (5, "a"), (1, "b"), (4, "b"), (3, "c")]


def test_a_job_of_repeated_texts_plans_each_distinct_text_into_one_chunk_only() -> None:
    texts = [f"text {i % 1000}" for i in range(10_000)]  # 10,000 items holding 1,000 distinct texts
    items = [ChunkItem(index=i, text=text) for i, text in enumerate(texts)]

    chunks = plan_chunks(
        repeats_together(items), chunk_size=256, max_message_bytes=900_000, envelope_bytes=500,
        keep_repeats_together=True,
    )

    chunks_of_text: dict[str, set[int]] = {}
    for number, chunk in enumerate(chunks):
        for item in chunk:
            chunks_of_text.setdefault(item.text, set()).add(number)
    assert len(chunks_of_text) == 1000
    assert all(len(numbers) == 1 for numbers in chunks_of_text.values())
    # 256 distinct texts a chunk, as without repeats: HF gets full batches (8 of 32 a chunk).
    assert [len({item.text for item in chunk}) for chunk in chunks] == [256, 256, 256, 232]
    assert sorted(item.index for chunk in chunks for item in chunk) == list(range(10_000))
