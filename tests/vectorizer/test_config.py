"""The text2vec-huggingface module config: Weaviate's rules, the endpoint allow-list, the URL to call."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vectorizer.config import (
    ModuleConfig,
    ModuleOptions,
    check_endpoint_allowed,
    default_token_may_go_to,
    resolve_target,
)
from vectorizer.errors import EndpointNotAllowedError, InvalidConfigError
from vectorizer.settings import DEFAULT_MODEL, settings_from

BASE = "https://router.huggingface.co/hf-inference"
SETTINGS = settings_from({})


def config_error(raw: dict[str, Any]) -> tuple[str, tuple[Any, ...], str]:
    """The one error pydantic reports for `raw`: (message, location, type)."""
    with pytest.raises(ValidationError) as caught:
        ModuleConfig.model_validate(raw)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]["msg"], tuple(errors[0]["loc"]), errors[0]["type"]


def feature_url(model: str) -> str:
    return f"{BASE}/models/{model}/pipeline/feature-extraction"


# ------------------------------------------------------------------ naming the model


def test_empty_config_uses_the_default_model_for_both_purposes() -> None:
    config = ModuleConfig.model_validate({})
    for purpose in ("passage", "query"):
        target = resolve_target(config, purpose, SETTINGS)
        assert target.model == DEFAULT_MODEL == "sentence-transformers/msmarco-bert-base-dot-v5"
        assert target.url == feature_url(DEFAULT_MODEL)


def test_default_model_comes_from_settings() -> None:
    settings = settings_from({"DEFAULT_MODEL": "BAAI/bge-small-en-v1.5"})
    target = resolve_target(ModuleConfig(), "passage", settings)
    assert target.model == "BAAI/bge-small-en-v1.5"
    assert target.url == feature_url("BAAI/bge-small-en-v1.5")


def test_model_is_used_for_both_purposes() -> None:
    config = ModuleConfig.model_validate({"model": "sentence-transformers/all-MiniLM-L6-v2"})
    for purpose in ("passage", "query"):
        target = resolve_target(config, purpose, SETTINGS)
        assert target.model == "sentence-transformers/all-MiniLM-L6-v2"
        assert target.url == feature_url("sentence-transformers/all-MiniLM-L6-v2")


def test_empty_string_is_weaviates_not_set() -> None:
    config = ModuleConfig.model_validate({"model": "", "passageModel": "", "queryModel": "", "endpointURL": ""})
    assert (config.model, config.passage_model, config.query_model, config.endpoint_url) == (None, None, None, None)
    assert resolve_target(config, "passage", SETTINGS).model == DEFAULT_MODEL


def test_dpr_query_purpose_uses_query_model_and_passage_uses_passage_model() -> None:
    config = ModuleConfig.model_validate({
        "passageModel": "sentence-transformers/facebook-dpr-ctx_encoder-single-nq-base",
        "queryModel": "sentence-transformers/facebook-dpr-question_encoder-single-nq-base",
    })
    query = resolve_target(config, "query", SETTINGS)
    passage = resolve_target(config, "passage", SETTINGS)
    assert query.model == "sentence-transformers/facebook-dpr-question_encoder-single-nq-base"
    assert query.url == feature_url("sentence-transformers/facebook-dpr-question_encoder-single-nq-base")
    assert passage.model == "sentence-transformers/facebook-dpr-ctx_encoder-single-nq-base"
    assert passage.url == feature_url("sentence-transformers/facebook-dpr-ctx_encoder-single-nq-base")


@pytest.mark.parametrize(
    "dpr", [{"passageModel": "a/p"}, {"queryModel": "a/q"}, {"passageModel": "a/p", "queryModel": "a/q"}]
)
def test_model_with_a_dpr_setting_is_refused(dpr: dict[str, str]) -> None:
    message, loc, kind = config_error({"model": "a/m", **dpr})
    assert message == "only one setting must be set either 'model' or 'passageModel' with 'queryModel'"
    assert (loc, kind) == ((), "invalid_config")


def test_passage_model_without_query_model_names_the_missing_one() -> None:
    message, _, kind = config_error({"passageModel": "a/p"})
    assert message == "'passageModel' is set, but 'queryModel' is empty"
    assert kind == "invalid_config"


def test_query_model_without_passage_model_names_the_missing_one() -> None:
    message, _, kind = config_error({"queryModel": "a/q", "passageModel": ""})
    assert message == "'queryModel' is set, but 'passageModel' is empty"
    assert kind == "invalid_config"


def test_unknown_key_is_named_with_the_allowed_keys() -> None:
    message, _, kind = config_error({"model": "a/m", "modelName": "x", "baseURL": "y"})
    assert message == (
        "unknown config setting(s) 'baseURL', 'modelName'; "
        "allowed: model, passageModel, queryModel, endpointURL, options, vectorizeClassName"
    )
    assert kind == "invalid_config"


def test_python_field_names_are_not_accepted_as_keys() -> None:
    message, _, _ = config_error({"passage_model": "a/p", "query_model": "a/q"})
    assert message.startswith("unknown config setting(s) 'passage_model', 'query_model'; allowed: ")


def test_unknown_option_is_named_with_the_allowed_options() -> None:
    message, loc, kind = config_error({"options": {"waitForModel": True, "use_cache": False}})
    assert message == "unknown options setting(s) 'use_cache'; allowed: waitForModel, useGPU, useCache"
    assert (loc, kind) == (("options",), "invalid_config")


@pytest.mark.parametrize(
    "name", ["../../admin", "owner/name/extra", "owner/..", "has space", "/leading", "owner/", "a?b", "a#b"]
)
def test_model_ids_that_could_change_the_url_path_are_refused(name: str) -> None:
    message, _, _ = config_error({"model": name})
    assert message == f"model {name!r} is not a Hugging Face model id like 'owner/name'"


def test_dpr_model_ids_are_checked_too() -> None:
    message, _, _ = config_error({"passageModel": "a/p", "queryModel": "../q"})
    assert message == "model '../q' is not a Hugging Face model id like 'owner/name'"


@pytest.mark.parametrize("name", ["bert-base-uncased", "BAAI/bge-m3", "intfloat/e5-large-v2", "org/model.v1_x"])
def test_hub_model_ids_are_accepted(name: str) -> None:
    assert ModuleConfig.model_validate({"model": name}).model == name


# ------------------------------------------------------------------ options


def test_options_default_like_weaviate() -> None:
    options = ModuleConfig.model_validate({}).options
    assert (options.wait_for_model, options.use_gpu, options.use_cache) == (False, False, True)


def test_options_are_read_from_their_weaviate_names() -> None:
    config = ModuleConfig.model_validate({"options": {"waitForModel": True, "useGPU": True, "useCache": False}})
    assert config.options == ModuleOptions.model_validate({"waitForModel": True, "useGPU": True, "useCache": False})
    target = resolve_target(config, "passage", SETTINGS)
    assert (target.options.wait_for_model, target.options.use_gpu, target.options.use_cache) == (True, True, False)


def test_partial_options_keep_the_other_defaults() -> None:
    options = ModuleConfig.model_validate({"options": {"useGPU": True}}).options
    assert (options.wait_for_model, options.use_gpu, options.use_cache) == (False, True, True)


def test_vectorize_class_name_is_accepted_and_defaults_true() -> None:
    assert ModuleConfig.model_validate({}).vectorize_class_name is True
    assert ModuleConfig.model_validate({"vectorizeClassName": False}).vectorize_class_name is False


# ------------------------------------------------------------------ endpointURL


def test_endpoint_url_wins_over_model_settings_and_is_called_verbatim() -> None:
    url = "https://abc123.us-east-1.aws.endpoints.huggingface.cloud/some/path?x=1"
    config = ModuleConfig.model_validate({"endpointURL": url, "model": "a/m", "passageModel": "a/p"})
    for purpose in ("passage", "query"):
        target = resolve_target(config, purpose, SETTINGS)
        assert target.url == url
        assert target.model == url


def test_endpoint_url_with_dpr_settings_is_not_validated_as_dpr() -> None:
    # Weaviate ignores every other setting once endpointURL is set.
    config = ModuleConfig.model_validate({"endpointURL": "https://x.endpoints.huggingface.cloud", "queryModel": "q"})
    assert resolve_target(config, "query", SETTINGS).url == "https://x.endpoints.huggingface.cloud"


@pytest.mark.parametrize("url", ["x.endpoints.huggingface.cloud", "https://", "//x.endpoints.huggingface.cloud"])
def test_endpoint_url_that_is_not_an_absolute_url_is_a_config_error(url: str) -> None:
    message, _, kind = config_error({"endpointURL": url})
    assert message == f"'endpointURL' {url!r} is not an absolute URL"
    assert kind == "invalid_config"


@pytest.mark.parametrize("url", ["ftp://x.endpoints.huggingface.cloud/", "file://x.endpoints.huggingface.cloud/etc"])
def test_endpoint_url_with_a_scheme_other_than_https_is_403(url: str) -> None:
    # The issue: an endpointURL "outside ENDPOINT_URL_ALLOWED_HOSTS or not https is 403".
    config = ModuleConfig.model_validate({"endpointURL": url})
    with pytest.raises(EndpointNotAllowedError) as caught:
        resolve_target(config, "passage", SETTINGS)
    assert (caught.value.status, caught.value.code) == (403, "endpoint_not_allowed")


@pytest.mark.parametrize(
    "url",
    [
        "https://abc.us-east-1.aws.endpoints.huggingface.cloud",
        "https://ABC.eu-west-1.aws.Endpoints.HuggingFace.cloud/v1",
        "https://router.huggingface.co/hf-inference/models/a/b/pipeline/feature-extraction",
        "https://api-inference.huggingface.co/models/a/b",
    ],
)
def test_default_allow_list_admits_hugging_face_hosts_over_https(url: str) -> None:
    check_endpoint_allowed(url, SETTINGS)  # no exception
    assert resolve_target(ModuleConfig.model_validate({"endpointURL": url}), "passage", SETTINGS).url == url


@pytest.mark.parametrize(
    ("url", "host", "scheme"),
    [
        ("http://abc.endpoints.huggingface.cloud", "abc.endpoints.huggingface.cloud", "http"),
        ("http://router.huggingface.co/x", "router.huggingface.co", "http"),
        ("https://evil.example.com", "evil.example.com", "https"),
        ("https://endpoints.huggingface.cloud", "endpoints.huggingface.cloud", "https"),
        ("https://abc.endpoints.huggingface.cloud.evil.com", "abc.endpoints.huggingface.cloud.evil.com", "https"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254", "https"),
        ("https://evil.com/.endpoints.huggingface.cloud", "evil.com", "https"),
        ("https://evil.com#.endpoints.huggingface.cloud", "evil.com", "https"),
    ],
)
def test_endpoint_outside_the_allow_list_is_403(url: str, host: str, scheme: str) -> None:
    config = ModuleConfig.model_validate({"endpointURL": url})
    with pytest.raises(EndpointNotAllowedError) as caught:
        resolve_target(config, "passage", SETTINGS)
    error = caught.value
    assert (error.status, error.code) == (403, "endpoint_not_allowed")
    assert error.message == (
        f"'endpointURL' host {host!r} over {scheme} is not allowed; allowed: "
        "*.endpoints.huggingface.cloud, router.huggingface.co, api-inference.huggingface.co "
        "(https only unless a scheme is given)"
    )
    assert error.to_body() == {"error": error.message, "code": "endpoint_not_allowed"}


def test_endpoint_with_credentials_in_the_url_is_403() -> None:
    with pytest.raises(EndpointNotAllowedError) as caught:
        check_endpoint_allowed("https://x.endpoints.huggingface.cloud@evil.com/", SETTINGS)
    assert caught.value.status == 403
    assert caught.value.message == "'endpointURL' must not carry credentials"
    with pytest.raises(EndpointNotAllowedError):
        check_endpoint_allowed("https://user:pw@abc.endpoints.huggingface.cloud/", SETTINGS)


def test_allow_list_comes_from_settings() -> None:
    settings = settings_from({"ENDPOINT_URL_ALLOWED_HOSTS": " my.host.example , *.corp.example "})
    assert settings.endpoint_url_allowed_hosts == ("my.host.example", "*.corp.example")
    check_endpoint_allowed("https://my.host.example/embed", settings)
    check_endpoint_allowed("https://a.b.corp.example/embed", settings)
    with pytest.raises(EndpointNotAllowedError):
        check_endpoint_allowed("https://abc.endpoints.huggingface.cloud", settings)


def test_allow_list_entry_with_scheme_and_port_admits_exactly_that() -> None:
    settings = settings_from({"ENDPOINT_URL_ALLOWED_HOSTS": "http://127.0.0.1:8088"})
    check_endpoint_allowed("http://127.0.0.1:8088/embed", settings)
    for refused in ("http://127.0.0.1:8089/embed", "https://127.0.0.1:8088/embed", "http://127.0.0.1/embed",
                    "http://127.0.0.2:8088/embed"):
        with pytest.raises(EndpointNotAllowedError):
            check_endpoint_allowed(refused, settings)


def test_allow_list_port_may_be_a_wildcard() -> None:
    settings = settings_from({"ENDPOINT_URL_ALLOWED_HOSTS": "http://127.0.0.1:*"})
    check_endpoint_allowed("http://127.0.0.1:51234/embed", settings)
    with pytest.raises(EndpointNotAllowedError):
        check_endpoint_allowed("http://localhost:51234/embed", settings)


def test_endpoint_is_checked_only_when_resolving_not_when_parsing() -> None:
    # Parsing a stored config must not depend on the deployment's allow-list.
    config = ModuleConfig.model_validate({"endpointURL": "https://evil.example.com"})
    assert config.endpoint_url == "https://evil.example.com"


def test_config_dumps_back_to_weaviate_names() -> None:
    raw = {"passageModel": "a/p", "queryModel": "a/q", "options": {"waitForModel": True}}
    dumped = ModuleConfig.model_validate(raw).model_dump(by_alias=True, exclude_none=True)
    assert dumped == {
        "passageModel": "a/p", "queryModel": "a/q",
        "options": {"waitForModel": True, "useGPU": False, "useCache": True}, "vectorizeClassName": True,
    }
    assert ModuleConfig.model_validate(dumped) == ModuleConfig.model_validate(raw)


# ------------------------------------------------------------------ URLs that can never be called


@pytest.mark.parametrize("port", ["99999", "65536", "123456789"])
def test_endpoint_url_with_a_port_out_of_range_is_a_config_error_not_a_crash(port: str) -> None:
    # urlsplit reads the port only when asked; resolve_target asked, and its ValueError was a 500.
    url = f"https://abc.endpoints.huggingface.cloud:{port}/embed"
    message, _, kind = config_error({"endpointURL": url})
    assert (message, kind) == (f"'endpointURL' {url!r} has a port that is not a number from 0 to 65535",
                               "invalid_config")


@pytest.mark.parametrize(
    "url",
    [
        "https://abc.endpoints.huggingface.cloud/em\tbed",
        "https://abc.endpoints.huggingface.cloud/embed\n",
        "https://abc.endpoints.huggingface\r.cloud/",
        "https://abc.endpoints.huggingface.cloud/a b",
        "https://abc.endpoints.huggingface.cloud/\x00",
        "https://abc.endpoints.huggingface.cloud/\x7f",
        "https://abc.endpoints.huggingface.cloud/\u2028",
    ],
)
def test_endpoint_url_with_whitespace_or_control_characters_is_a_config_error(url: str) -> None:
    # urlsplit drops tabs and newlines before the host check, then httpx refused the URL: a 500.
    position = next(i for i, ch in enumerate(url) if ch.isspace() or not ch.isprintable())
    message, _, kind = config_error({"endpointURL": url})
    assert (message, kind) == (f"'endpointURL' holds a whitespace or control character at position {position}",
                               "invalid_config")
    assert position >= len("https://abc.endpoints.huggingface")


def test_endpoint_url_with_a_broken_ipv6_host_is_a_config_error() -> None:
    message, _, kind = config_error({"endpointURL": "https://[::1/embed"})
    assert (message, kind) == ("'endpointURL' 'https://[::1/embed' is not a URL (Invalid IPv6 URL)", "invalid_config")


def test_a_config_that_skipped_validation_is_refused_by_resolve_target_with_a_400() -> None:
    # A ModuleConfig built without validation (model_construct) still never reaches the client.
    config = ModuleConfig.model_construct(endpoint_url="https://abc.endpoints.huggingface.cloud:99999/")
    with pytest.raises(InvalidConfigError) as caught:
        resolve_target(config, "passage", SETTINGS)
    assert (caught.value.status, caught.value.code) == (400, "invalid_config")


# ------------------------------------------------------------------ where the default token may go


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/models/a/b/pipeline/feature-extraction",
        f"{BASE}",
        f"{BASE}/",
        "https://ROUTER.huggingface.co:443/hf-inference/models/a/b",
        f"{BASE}/models/a/b?wait=1",
    ],
)
def test_default_token_goes_to_the_base_url_and_paths_under_it(url: str) -> None:
    assert default_token_may_go_to(url, SETTINGS) is True


@pytest.mark.parametrize(
    "url",
    [
        # The default allow-list admits these hosts, but anyone can create an endpoint there.
        "https://strangers-endpoint.us-east-1.aws.endpoints.huggingface.cloud",
        "https://api-inference.huggingface.co/models/a/b",
        # The base URL's host, outside its base path, or climbing out of it.
        "https://router.huggingface.co/other-provider/v1/embeddings",
        "https://router.huggingface.co/hf-inferencex/models/a",
        f"{BASE}/../other-provider",
        f"{BASE}/%2e%2e/other-provider",
        f"{BASE}/models/%2E./x",
        # Same host, other scheme or port; credentials in the URL.
        "http://router.huggingface.co/hf-inference/models/a",
        "https://router.huggingface.co:8443/hf-inference/models/a",
        "https://user@router.huggingface.co/hf-inference/models/a",
        # Not callable at all.
        "https://router.huggingface.co:99999/hf-inference",
        "https://router.huggingface.co/hf-inference/\tx",
        "ftp://router.huggingface.co/hf-inference",
    ],
)
def test_default_token_never_goes_where_the_operator_did_not_send_it(url: str) -> None:
    assert default_token_may_go_to(url, SETTINGS) is False


def test_default_token_goes_to_the_exact_hosts_the_operator_lists() -> None:
    settings = settings_from({"DEFAULT_TOKEN_HOSTS": "my-endpoint.us-east-1.aws.endpoints.huggingface.cloud, "
                                                     "http://127.0.0.1:8088"})
    allowed = ["https://my-endpoint.us-east-1.aws.endpoints.huggingface.cloud/any/path",
               "https://MY-ENDPOINT.us-east-1.aws.endpoints.huggingface.cloud:443/",
               "http://127.0.0.1:8088/", "http://127.0.0.1:8088/models/x"]
    refused = ["https://other.us-east-1.aws.endpoints.huggingface.cloud/",
               "http://my-endpoint.us-east-1.aws.endpoints.huggingface.cloud/",
               "https://my-endpoint.us-east-1.aws.endpoints.huggingface.cloud:8443/",
               "http://127.0.0.1:8089/", "https://127.0.0.1:8088/", "http://localhost:8088/"]
    assert [default_token_may_go_to(url, settings) for url in allowed] == [True] * len(allowed)
    assert [default_token_may_go_to(url, settings) for url in refused] == [False] * len(refused)


def test_default_token_hosts_take_an_ipv6_origin() -> None:
    settings = settings_from({"DEFAULT_TOKEN_HOSTS": "http://[::1]:8088"})
    assert default_token_may_go_to("http://[::1]:8088/embed", settings) is True
    assert default_token_may_go_to("http://[::1]:8089/embed", settings) is False


def test_default_token_hosts_refuse_patterns() -> None:
    with pytest.raises(ValidationError) as caught:
        settings_from({"DEFAULT_TOKEN_HOSTS": "ok.example.com,*.endpoints.huggingface.cloud"})
    assert "DEFAULT_TOKEN_HOSTS takes exact hosts, not patterns: *.endpoints.huggingface.cloud" in str(caught.value)


def test_default_token_goes_under_a_local_base_url_too() -> None:
    settings = settings_from({"HF_API_BASE_URL": "http://127.0.0.1:8088"})
    assert default_token_may_go_to("http://127.0.0.1:8088/", settings) is True
    assert default_token_may_go_to("http://127.0.0.1:8088/models/a/pipeline/feature-extraction", settings) is True
    assert default_token_may_go_to("http://127.0.0.1:8089/", settings) is False
