"""Properties of config validation: whatever JSON a caller sends as `config`, the answer is the
config or a 4xx, never another exception; a valid endpointURL is called verbatim or refused.
"""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from vectorizer.config import ModuleConfig, Target, default_token_may_go_to, resolve_target
from vectorizer.errors import VectorizerError
from vectorizer.settings import settings_from

SETTINGS = settings_from({
    "ENDPOINT_URL_ALLOWED_HOSTS": "*.endpoints.huggingface.cloud,router.huggingface.co,http://127.0.0.1:*",
    "DEFAULT_TOKEN_HOSTS": "mine.endpoints.huggingface.cloud,http://127.0.0.1:8088",
})
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = ["model", "passageModel", "queryModel", "endpointURL", "options", "vectorizeClassName",
        "waitForModel", "useGPU", "useCache"]
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)

hosts = st.sampled_from([
    "abc.endpoints.huggingface.cloud", "mine.endpoints.huggingface.cloud", "router.huggingface.co",
    "127.0.0.1", "evil.example.com", "[::1]", "[::1", "",
]) | st.text(max_size=12)
ports = st.none() | st.integers(min_value=-5, max_value=200_000).map(str) | st.text(max_size=6)
paths = st.sampled_from(["", "/", "/hf-inference/models/a/b", "/../x", "/%2e%2e/x"]) | st.text(max_size=20)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "http", "ftp", "HTTPS", ""]))
    userinfo = draw(st.sampled_from(["", "user@", "u:p@"]))
    port = draw(ports)
    return f"{scheme}://{userinfo}{draw(hosts)}{'' if port is None else ':' + port}{draw(paths)}"


configs = st.fixed_dictionaries(
    {}, optional={"model": st.text(max_size=20) | scalars, "passageModel": st.text(max_size=10),
                  "queryModel": st.text(max_size=10), "endpointURL": urls() | scalars,
                  "options": json_values, "vectorizeClassName": scalars}
) | json_values


def validate_and_resolve(raw: Any) -> Target | None:
    """The target for `raw`, or None when it was refused with a 4xx; anything else fails the test."""
    try:
        config = ModuleConfig.model_validate(raw)
    except ValidationError:
        return None
    try:
        return resolve_target(config, "passage", SETTINGS)
    except VectorizerError as error:
        assert 400 <= error.status < 500, (error.status, error.message)
        return None


@PROPERTY
@given(configs)
def test_any_config_validates_or_is_refused_with_a_4xx(raw: Any) -> None:
    target = validate_and_resolve(raw)
    if target is not None:
        httpx.URL(target.url)  # the client can call whatever was accepted
        assert isinstance(default_token_may_go_to(target.url, SETTINGS), bool)


@PROPERTY
@given(urls())
def test_an_endpoint_url_is_called_verbatim_or_refused_with_400_or_403(url: str) -> None:
    try:
        config = ModuleConfig.model_validate({"endpointURL": url})
    except ValidationError as error:
        assert [e["type"] for e in error.errors()] == ["invalid_config"]
        return
    try:
        target = resolve_target(config, "query", SETTINGS)
    except VectorizerError as error:
        assert (error.status, error.code) in {(400, "invalid_config"), (403, "endpoint_not_allowed")}
        return
    assert (target.url, target.model) == (url, url)
    assert httpx.URL(target.url).host


@PROPERTY
@given(urls())
def test_the_default_token_only_goes_to_the_base_url_or_a_listed_origin(url: str) -> None:
    if not default_token_may_go_to(url, SETTINGS):
        return
    parsed = httpx.URL(url)
    origin = (parsed.scheme, parsed.host, parsed.port or {"http": 80, "https": 443}[parsed.scheme])
    assert origin in {("https", "router.huggingface.co", 443), ("https", "mine.endpoints.huggingface.cloud", 443),
                      ("http", "127.0.0.1", 8088)}
    assert not parsed.userinfo
    if origin == ("https", "router.huggingface.co", 443):
        assert parsed.path == "/hf-inference" or parsed.path.startswith("/hf-inference/")
