"""Peer clients against one HF-compatible feature-extraction endpoint: what a caller would use instead.

Each peer embeds the same texts against the same base URL (model `m` at
`{url}/models/{m}/pipeline/feature-extraction`, like HF_API_BASE_URL) and is timed from its first
request to its last answer; each checks it got one vector per text, so a peer that silently lost
texts cannot look fast. The peers, as they behave out of the box:

- `hf_hub`: `huggingface_hub.InferenceClient.feature_extraction`, batches of 32 (TEI's default
  client batch), one request at a time, as a script calling the endpoint by hand would;
- `hf_hub_x8`: the same with a thread pool of 8 requests in flight;
- `langchain`: langchain-community's `HuggingFaceInferenceAPIEmbeddings(api_url=...)`. Its
  `embed_documents` posts every text it is given in ONE request to `api_url` verbatim (with
  `options: {wait_for_model, use_cache}`), does not check the status and returns the body, so an
  endpoint with a batch limit (TEI answers 413 above 32) refuses a large list: the caller has to
  batch, and this peer hands it 32 texts at a time, one call after the other;
- `weaviate_like`: what Weaviate's `text2vec-huggingface` module does: up to 100 objects per
  request, one request at a time, `{"inputs": [...]}` with false options omitted, redirects not
  followed, and no retry on 429 or 503 (it retries only broken connections), so such an answer
  fails the run. Its default budget of 100 requests a minute is not imposed: it binds only past
  10,000 texts a minute, more than a single-request-at-a-time client reaches here.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from huggingface_hub import InferenceClient

HF_HUB_BATCH = 32
HF_HUB_THREADS = 8
LANGCHAIN_BATCH = 32
WEAVIATE_BATCH = 100
# Peers send a token as they would to HF; the local endpoints ignore it.
TOKEN = "hf_bench_peer"
TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class PeerRow:
    """One peer's run: its name, the wall-clock seconds it took and how many texts it embedded, or
    why it failed (`failed`; then `items` is 0 and `seconds` the time until it gave up), and the
    endpoint's ideal for its texts when known.
    """

    name: str
    seconds: float
    items: int
    failed: str | None = None
    ideal: float = 0.0  # the endpoint's least seconds for these texts (set by the caller, who knows its costs)

    @property
    def efficiency(self) -> float:
        """The endpoint's ceiling reached: ideal / seconds (0.0 when the ideal or the time is unknown)."""
        return self.ideal / self.seconds if self.ideal > 0 and self.seconds > 0 else 0.0

    @property
    def items_per_second(self) -> float:
        """Texts embedded per wall-clock second (0.0 for a run that took no measurable time)."""
        return self.items / self.seconds if self.seconds > 0 else 0.0


class PeerFailed(RuntimeError):
    """A peer got an answer it cannot use (an error status, or not one vector per text)."""


def model_url(url: str, model: str) -> str:
    """Takes the endpoint's base URL and a model id; returns that model's feature-extraction URL."""
    return f"{url.rstrip('/')}/models/{model}/pipeline/feature-extraction"


def batches(texts: list[str], size: int) -> list[list[str]]:
    """Takes texts and a batch size; returns consecutive batches of at most `size`, in order."""
    return [texts[start:start + size] for start in range(0, len(texts), size)]


def checked(name: str, vectors: list[list[float]], texts: list[str]) -> list[list[float]]:
    """Takes a peer's name, its vectors and its texts; returns the vectors if there is one per text.

    Raises PeerFailed otherwise (a peer that drops texts must not be timed as if it had not).
    """
    if len(vectors) != len(texts):
        raise PeerFailed(f"{name}: {len(vectors)} vectors for {len(texts)} texts")
    return vectors


def _as_lists(answer: object) -> list[list[float]]:
    # huggingface_hub answers a numpy array; the others plain JSON lists.
    tolist = getattr(answer, "tolist", None)
    return tolist() if tolist else answer  # type: ignore[return-value]


def hf_hub_vectors(url: str, texts: list[str], model: str, *, threads: int = 1) -> list[list[float]]:
    """`InferenceClient.feature_extraction` over batches of 32, `threads` requests in flight.

    Takes the base URL, the texts, the model id and the number of threads; returns the vectors in
    text order (as lists of floats).
    """
    client = InferenceClient(model=model_url(url, model), token=TOKEN, timeout=TIMEOUT_SECONDS)
    parts = batches(texts, HF_HUB_BATCH)
    if threads == 1:
        answers = [client.feature_extraction(batch) for batch in parts]
    else:
        with ThreadPoolExecutor(threads) as pool:
            answers = list(pool.map(client.feature_extraction, parts))
    return [row for answer in answers for row in _as_lists(answer)]


def langchain_vectors(url: str, texts: list[str], model: str) -> list[list[float]]:
    """LangChain-community's `HuggingFaceInferenceAPIEmbeddings.embed_documents`, 32 texts a call.

    Takes the base URL, the texts and the model id; returns the vectors in text order. An error
    body (a dict, which the library returns as it is) is a PeerFailed.
    """
    # Imported and built quietly: langchain-community warns that it is being sunset, and LangChain that the class
    # is deprecated (through its own switch, which warnings filters do not reach).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_community.embeddings import HuggingFaceInferenceAPIEmbeddings
        from langchain_core._api.deprecation import suppress_langchain_deprecation_warning

    with suppress_langchain_deprecation_warning():
        embeddings = HuggingFaceInferenceAPIEmbeddings(api_key=TOKEN, model_name=model,
                                                       api_url=model_url(url, model))
    vectors: list[list[float]] = []
    for batch in batches(texts, LANGCHAIN_BATCH):
        answer = embeddings.embed_documents(batch)
        if not isinstance(answer, list):
            raise PeerFailed(f"langchain: the endpoint answered {str(answer)[:200]}")
        vectors.extend(answer)
    return vectors


def weaviate_like_vectors(url: str, texts: list[str], model: str) -> list[list[float]]:
    """A client that calls the endpoint as Weaviate's text2vec-huggingface module does.

    Takes the base URL, the texts and the model id; returns the vectors in text order. Any answer
    but a 200 (a 429, a 503 while loading, a 413) is a PeerFailed: that module does not retry them.
    """
    target = model_url(url, model)
    vectors: list[list[float]] = []
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for batch in batches(texts, WEAVIATE_BATCH):
            answer = client.post(target, json={"inputs": batch})
            if answer.status_code != 200:
                raise PeerFailed(f"weaviate_like: failed with status: {answer.status_code} error: {answer.text[:200]}")
            vectors.extend(answer.json())
    return vectors


PEERS: dict[str, Callable[[str, list[str], str], list[list[float]]]] = {
    "hf_hub": hf_hub_vectors,
    "hf_hub_x8": lambda url, texts, model: hf_hub_vectors(url, texts, model, threads=HF_HUB_THREADS),
    "langchain": langchain_vectors,
    "weaviate_like": weaviate_like_vectors,
}


def run_peer(name: str, url: str, texts: list[str], model: str) -> tuple[PeerRow, list[list[float]]]:
    """Takes a peer's name (a key of PEERS), the base URL, the texts and the model id; returns its
    timed row and the vectors it got (checked: one per text, else PeerFailed).
    """
    started = time.perf_counter()
    vectors = checked(name, PEERS[name](url, texts, model), texts)
    return PeerRow(name, time.perf_counter() - started, len(vectors)), vectors


def run_peers(url: str, texts: list[str], model: str) -> list[PeerRow]:
    """Takes the endpoint's base URL, the texts and the model id; returns one PeerRow per peer,
    in PEERS order, each run once, one after the other (so they never compete for the endpoint).
    A peer that fails (PeerFailed) gets a row saying why, with no items: it is a result too.
    """
    rows = []
    for name in PEERS:
        started = time.perf_counter()
        try:
            rows.append(run_peer(name, url, texts, model)[0])
        except PeerFailed as failure:
            rows.append(PeerRow(name, time.perf_counter() - started, 0, str(failure)))
    return rows
