"""The clients people already use, unchanged but for their URL, against the local stack's HTTP API.

Each test drives a real client library (huggingface_hub's InferenceClient, langchain-community's
HuggingFaceInferenceAPIEmbeddings, langchain-openai's OpenAIEmbeddings, the openai SDK) or sends a
request byte for byte as Weaviate's text2vec-huggingface module sends it to an `endpointURL`, and
compares every vector it gets with the real all-MiniLM-L6-v2 model's own output for the same texts,
computed here in the test process. Errors must reach each client as the error it understands.

One local stack (moto server, the model endpoint serving the real model, the API) is started for
the module on free ports; `HF_API_BASE_URL: ""` makes it serve the bundled model, and it sets
DEFAULT_MODEL to that model for the routes that name none (`POST /`, `/embed`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
import numpy as np
import pytest

from local.launcher import ReadyStack

pytestmark = pytest.mark.e2e

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
UNKNOWN_MODEL = "no-such-owner/no-such-model"
# Any token: the local stack's model endpoint does not check it, but every client insists on one.
TOKEN = "hf_x"
TEXTS = [
    "A man is eating food.",
    "A kitten sleeps on the sofa.",
    "The stock market fell sharply on Monday.",
    "Élan vital, naïve café, 東京 and emoji 🚀: not only ASCII.",
    "<b>Tags & ampersands</b> travel as JSON escapes",
]
# Vectors are float32 on every hop and batches may pad differently: equal up to float32 noise.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def api(local_stack: ReadyStack) -> str:
    return local_stack.api.rstrip("/")


def expected(encoder, texts: Sequence[str]) -> np.ndarray:
    """The model's own vectors for `texts`, shape (len(texts), 384)."""
    return encoder.encode(list(texts), convert_to_numpy=True)


def assert_same_vectors(got, want: np.ndarray) -> None:
    """Same shape, and every coordinate within TOLERANCE of the model's own."""
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"got shape {got.shape}, the model's is {want.shape}"
    worst = float(np.max(np.abs(got - want.astype(np.float64))))
    assert worst < TOLERANCE, f"largest difference from the model's own vectors: {worst}"


# ---------------------------------------------------------------------------------------------
# huggingface_hub.InferenceClient
# ---------------------------------------------------------------------------------------------

# Our URL for each route, as the `model` of an InferenceClient (a URL is posted to verbatim).
HF_ROUTES = {
    "models": f"/models/{MODEL}",
    "models-pipeline": f"/models/{MODEL}/pipeline/feature-extraction",
    "pipeline": f"/pipeline/feature-extraction/{MODEL}",
    "default-model": "/",
}


@pytest.mark.parametrize("path", HF_ROUTES.values(), ids=HF_ROUTES.keys())
def test_inference_client_feature_extraction_gets_the_models_vectors(api: str, encoder, path: str) -> None:
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=f"{api}{path}", token=TOKEN)
    want = expected(encoder, TEXTS)

    # A bare string: HF answers one vector (1-D).
    single = client.feature_extraction(TEXTS[0])
    assert_same_vectors(single, want[0])

    # A list: one vector per text, in order.
    batch = client.feature_extraction(TEXTS)
    assert_same_vectors(batch, want)


def test_inference_client_on_tei_embed_gets_2d_vectors(api: str, encoder) -> None:
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=f"{api}/embed", token=TOKEN)
    want = expected(encoder, TEXTS)
    # TEI's /embed always answers 2-D, even for a bare string; it normalises, as this model does anyway.
    assert_same_vectors(client.feature_extraction(TEXTS[1]), want[1:2])
    assert_same_vectors(client.feature_extraction(TEXTS), want)


def test_inference_client_unknown_model_raises_its_http_error_with_404(api: str) -> None:
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    client = InferenceClient(model=f"{api}/models/{UNKNOWN_MODEL}", token=TOKEN)
    with pytest.raises(HfHubHTTPError) as caught:
        client.feature_extraction("hello")
    assert caught.value.response.status_code == 404
    # Our `{"error": ...}` reaches the client as its server message, naming the model.
    assert caught.value.server_message is not None
    assert UNKNOWN_MODEL in caught.value.server_message
    assert UNKNOWN_MODEL in str(caught.value)


def test_inference_client_empty_list_raises_400_with_our_message(api: str) -> None:
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    client = InferenceClient(model=f"{api}/models/{MODEL}", token=TOKEN)
    with pytest.raises(HfHubHTTPError) as caught:
        client.feature_extraction([])
    assert caught.value.response.status_code == 400
    assert caught.value.server_message == "'inputs' cannot be empty"


# ---------------------------------------------------------------------------------------------
# LangChain
# ---------------------------------------------------------------------------------------------


def test_langchain_community_hf_inference_api_embeddings(api: str, encoder) -> None:
    from langchain_community.embeddings import HuggingFaceInferenceAPIEmbeddings

    # It posts `{"inputs": [...], "options": {"wait_for_model": true, "use_cache": true}}` to
    # `api_url` (by default HF's old `/pipeline/feature-extraction/{model_name}`), Bearer token,
    # and returns `response.json()` unchecked.
    embeddings = HuggingFaceInferenceAPIEmbeddings(
        api_key=TOKEN, model_name=MODEL, api_url=f"{api}/pipeline/feature-extraction/{MODEL}",
    )
    want = expected(encoder, TEXTS)
    documents = embeddings.embed_documents(TEXTS)
    assert isinstance(documents, list), f"not vectors: {documents!r}"
    assert_same_vectors(documents, want)
    assert_same_vectors(embeddings.embed_query(TEXTS[2]), want[2])


def test_langchain_openai_embeddings(api: str, encoder) -> None:
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        base_url=f"{api}/v1", api_key=TOKEN, model=MODEL,
        # By default OpenAIEmbeddings tokenizes with tiktoken (OpenAI's tokenizer, fetched from the
        # network) and sends token ids, which mean nothing to this model's tokenizer and which the
        # service refuses; False makes it send the texts, as LangChain documents for compatible APIs.
        check_embedding_ctx_length=False,
    )
    want = expected(encoder, TEXTS)
    assert_same_vectors(embeddings.embed_documents(TEXTS), want)
    assert_same_vectors(embeddings.embed_query(TEXTS[3]), want[3])


# ---------------------------------------------------------------------------------------------
# The openai SDK
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openai_client(api: str):
    import openai

    with openai.OpenAI(base_url=f"{api}/v1", api_key=TOKEN) as client:
        yield client


def test_openai_sdk_default_encoding_is_base64_and_decodes_to_the_models_vectors(openai_client, encoder) -> None:
    raw = openai_client.embeddings.with_raw_response.create(model=MODEL, input=TEXTS)
    # The SDK asked for base64 (its default) and the service answered base64 strings...
    assert json.loads(raw.http_request.content)["encoding_format"] == "base64"
    assert all(isinstance(item["embedding"], str) for item in raw.http_response.json()["data"])
    # ...which the SDK decodes to the model's float vectors.
    response = raw.parse()
    assert (response.object, response.model) == ("list", MODEL)
    assert [item.index for item in response.data] == list(range(len(TEXTS)))
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens
    assert_same_vectors([item.embedding for item in response.data], expected(encoder, TEXTS))


def test_openai_sdk_float_encoding(openai_client, encoder) -> None:
    raw = openai_client.embeddings.with_raw_response.create(model=MODEL, input=TEXTS, encoding_format="float")
    assert all(isinstance(item["embedding"], list) for item in raw.http_response.json()["data"])
    response = raw.parse()
    assert_same_vectors([item.embedding for item in response.data], expected(encoder, TEXTS))
    # A bare string is one embedding.
    single = openai_client.embeddings.create(model=MODEL, input=TEXTS[4], encoding_format="float")
    assert len(single.data) == 1
    assert_same_vectors(single.data[0].embedding, expected(encoder, TEXTS[4:])[0])


def test_openai_sdk_empty_input_raises_bad_request_with_our_message(openai_client) -> None:
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.embeddings.create(model=MODEL, input=[])
    assert caught.value.status_code == 400
    assert caught.value.body["message"] == "'input' is an empty list; send at least one text"
    assert caught.value.body["type"] == "invalid_request_error"
    assert caught.value.body["param"] == "input"


def test_openai_sdk_token_ids_are_refused_with_a_hint(openai_client) -> None:
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.embeddings.create(model=MODEL, input=[[101, 2023, 102]])
    assert "check_embedding_ctx_length=False" in caught.value.body["message"]


def test_openai_sdk_unknown_model_raises_not_found(openai_client) -> None:
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.embeddings.create(model=UNKNOWN_MODEL, input=["hello"])
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"
    assert UNKNOWN_MODEL in caught.value.body["message"]


def test_openai_sdk_large_input_is_split_and_comes_back_in_order(openai_client, encoder) -> None:
    # 150 texts: more than the API's HF batch (HF_BATCH_SIZE, 32), so the service splits them into
    # batches sent to the model in parallel, and must put the answers back in input order.
    texts = [f"Sentence number {n}: {TEXTS[n % len(TEXTS)]} ({'more ' * (n % 7)}words)" for n in range(150)]
    response = openai_client.embeddings.create(model=MODEL, input=texts)
    assert [item.index for item in response.data] == list(range(150))
    assert_same_vectors([item.embedding for item in response.data], expected(encoder, texts))


# ---------------------------------------------------------------------------------------------
# Weaviate's text2vec-huggingface with `endpointURL`
# ---------------------------------------------------------------------------------------------


def go_json_marshal(value: object) -> bytes:
    """JSON as Go's `json.Marshal` writes it: compact, UTF-8, with `<`, `>`, `&`, U+2028/9 escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text.encode("utf-8")


def weaviate_request(texts: Sequence[str], *, wait_for_model: bool = False, use_gpu: bool = False,
                     use_cache: bool = True, api_key: str = TOKEN) -> tuple[bytes, dict[str, str]]:
    """The body and headers of Weaviate's `vectorizer.vectorize` (modules/text2vec-huggingface/clients/huggingface.go).

    `embeddingsRequest{Inputs, Options: &options}`: `options` is always present (a non-nil pointer)
    and each of its bools is `omitempty`, so a false option is left out (`{}` when all are false).
    Headers: `Authorization: Bearer <X-Huggingface-Api-Key or HUGGINGFACE_APIKEY>`, `Content-Type`,
    and Go's own `User-Agent` and `Accept-Encoding: gzip`. The module's defaults are
    waitForModel false, useGPU false, useCache true.
    """
    options = {name: True for name, on in (("wait_for_model", wait_for_model), ("use_gpu", use_gpu),
                                            ("use_cache", use_cache)) if on}
    body = go_json_marshal({"inputs": list(texts), "options": options})
    headers = {
        "User-Agent": "Go-http-client/1.1",
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
        "Accept-Encoding": "gzip",
    }
    return body, headers


def weaviate_decode(answer: httpx.Response) -> list[list[float]]:
    """What Weaviate makes of an answer: its `checkResponse` and the first form of `decodeVector`.

    Below 400 the body must unmarshal into `[][]float32`; a 4xx/5xx must unmarshal into
    `{"error": string, "estimated_time"?: number}` (else Weaviate reports an unparsable error body).
    """
    if answer.status_code >= 400:
        error = answer.json()
        assert isinstance(error, dict) and isinstance(error.get("error"), str), answer.text
        raise AssertionError(f"failed with status: {answer.status_code} error: {error['error']}")
    decoded = answer.json()
    assert isinstance(decoded, list) and decoded, f"not a non-empty 2-D array: {answer.text[:200]}"
    assert all(isinstance(row, list) and all(isinstance(x, float | int) for x in row) for row in decoded)
    return np.asarray(decoded, dtype=np.float32).tolist()


WEAVIATE_URLS = {
    "models": f"/models/{MODEL}",
    "models-pipeline": f"/models/{MODEL}/pipeline/feature-extraction",
    "pipeline": f"/pipeline/feature-extraction/{MODEL}",
}
# The module's options (waitForModel, useGPU, useCache) and the `options` object Weaviate sends for them.
WEAVIATE_OPTIONS = {
    "defaults": ({}, {"use_cache": True}),
    "useCache-false": ({"use_cache": False}, {}),
    "all-true": ({"wait_for_model": True, "use_gpu": True}, {"wait_for_model": True, "use_gpu": True,
                                                             "use_cache": True}),
}


@pytest.mark.parametrize(("options", "sent"), WEAVIATE_OPTIONS.values(), ids=WEAVIATE_OPTIONS.keys())
@pytest.mark.parametrize("path", WEAVIATE_URLS.values(), ids=WEAVIATE_URLS.keys())
def test_weaviate_endpoint_url_request_gets_the_models_vectors(
    api: str, encoder, path: str, options: dict, sent: dict
) -> None:
    body, headers = weaviate_request(TEXTS, **options)
    # The exact bytes: the escapes Go writes, and the options Weaviate would send.
    assert b"\\u003cb\\u003eTags \\u0026 ampersands\\u003c/b\\u003e" in body
    assert json.loads(body)["options"] == sent
    # Not following redirects: Go would turn a 301/302 answer to this POST into a GET without the body.
    answer = httpx.post(f"{api}{path}", content=body, headers=headers, timeout=120, follow_redirects=False)
    assert answer.status_code == 200, answer.text
    assert_same_vectors(weaviate_decode(answer), expected(encoder, TEXTS))


def test_weaviate_request_with_x_use_cache_header(api: str, encoder) -> None:
    # With useCache false the body has no use_cache at all; HF honours the `x-use-cache: false`
    # header instead, which a request may carry (the service must accept it and still answer).
    body, headers = weaviate_request(TEXTS, use_cache=False)
    answer = httpx.post(f"{api}/models/{MODEL}/pipeline/feature-extraction", content=body,
                        headers={**headers, "x-use-cache": "false"}, timeout=120)
    assert answer.status_code == 200, answer.text
    assert_same_vectors(weaviate_decode(answer), expected(encoder, TEXTS))


def test_weaviate_batch_of_100_objects(api: str, encoder) -> None:
    # Weaviate sends up to 100 objects per request.
    texts = [f"Object {n}: {TEXTS[n % len(TEXTS)]}" for n in range(100)]
    body, headers = weaviate_request(texts)
    answer = httpx.post(f"{api}/pipeline/feature-extraction/{MODEL}", content=body, headers=headers, timeout=120)
    assert answer.status_code == 200, answer.text
    assert_same_vectors(weaviate_decode(answer), expected(encoder, texts))


def test_weaviate_unknown_model_gets_an_error_body_it_parses(api: str) -> None:
    body, headers = weaviate_request(["hello"])
    answer = httpx.post(f"{api}/pipeline/feature-extraction/{UNKNOWN_MODEL}", content=body, headers=headers,
                        timeout=120)
    assert answer.status_code == 404
    with pytest.raises(AssertionError, match=r"^failed with status: 404 error: .*no-such-owner/no-such-model"):
        weaviate_decode(answer)
