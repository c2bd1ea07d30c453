"""The `text2vec-huggingface` module config, validated with Weaviate's rules.

A config names the model one of three ways: `model`; `passageModel` with `queryModel` (DPR: the
first embeds documents, the second queries); or `endpointURL`, a dedicated inference endpoint,
which wins over the model settings. `resolve_target` turns a config into the one URL to call.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Literal
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from vectorizer.errors import EndpointNotAllowedError, InvalidConfigError
from vectorizer.settings import Settings

Purpose = Literal["passage", "query"]

# A Hub model id: "name" or "owner/name". Anything else (dots-only segments, more slashes,
# spaces) could change the path of the URL we build, so it is refused.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_MODEL_ID = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})?$")


def _config_error(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_config", message)


def _reject_unknown_keys(value: Any, allowed: tuple[str, ...], where: str) -> None:
    if not isinstance(value, dict):
        return
    unknown = sorted(key for key in value if key not in allowed)
    if unknown:
        raise _config_error(
            f"unknown {where} setting(s) {', '.join(repr(k) for k in unknown)}; "
            f"allowed: {', '.join(allowed)}"
        )


class ModuleOptions(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    wait_for_model: bool = Field(False, alias="waitForModel")
    use_gpu: bool = Field(False, alias="useGPU")
    use_cache: bool = Field(True, alias="useCache")

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, value: Any) -> Any:
        _reject_unknown_keys(value, ("waitForModel", "useGPU", "useCache"), "options")
        return value


class ModuleConfig(BaseModel):
    """The class-level moduleConfig of `text2vec-huggingface`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    model: str | None = None
    passage_model: str | None = Field(None, alias="passageModel")
    query_model: str | None = Field(None, alias="queryModel")
    endpoint_url: str | None = Field(None, alias="endpointURL")
    options: ModuleOptions = Field(default_factory=ModuleOptions)
    # Weaviate keeps these beside the model settings; they shape object text, not the call.
    vectorize_class_name: bool = Field(True, alias="vectorizeClassName")

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, value: Any) -> Any:
        _reject_unknown_keys(value, _CONFIG_KEYS, "config")
        if isinstance(value, dict):
            # An empty string is Weaviate's "not set".
            return {key: (None if item == "" else item) for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _one_way_to_name_the_model(self) -> ModuleConfig:
        if self.endpoint_url is None:
            if self.model and (self.passage_model or self.query_model):
                raise _config_error(
                    "only one setting must be set either 'model' or 'passageModel' with 'queryModel'"
                )
            if self.passage_model and not self.query_model:
                raise _config_error("'passageModel' is set, but 'queryModel' is empty")
            if self.query_model and not self.passage_model:
                raise _config_error("'queryModel' is set, but 'passageModel' is empty")
            for name in (self.model, self.passage_model, self.query_model):
                if name is not None and not _MODEL_ID.match(name):
                    raise _config_error(
                        f"model {name!r} is not a Hugging Face model id like 'owner/name'"
                    )
        else:
            problem = endpoint_url_problem(self.endpoint_url)
            if problem is not None:
                raise _config_error(problem)
        return self

    def model_for(self, purpose: Purpose, default_model: str) -> str:
        """Takes the purpose and the deployment's default model; returns the model id to call (queryModel or
        passageModel for DPR, else model, else the default).
        """
        if self.passage_model and self.query_model:
            return self.query_model if purpose == "query" else self.passage_model
        return self.model or default_model


def endpoint_url_problem(url: str, field: str = "endpointURL") -> str | None:
    """Why `url` can never be called (a caller's 400), or None when it is a URL we could call.

    Takes the URL as sent and the name of the field that carried it (`endpointURL`,
    `callbackUrl`); returns a message for the caller. Whether we *may* call it is the
    allow-list's question (`check_endpoint_allowed`, `check_callback_allowed`: a 403), asked later.
    """
    # urlsplit silently drops tabs and newlines, so the host check would pass on a URL other than
    # the one httpx is then given (which refuses it): refuse such characters here, by position.
    bad = next((i for i, ch in enumerate(url) if ch.isspace() or not ch.isprintable()), None)
    if bad is not None:
        return f"'{field}' holds a whitespace or control character at position {bad}"
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unclosed IPv6 bracket, say
        return f"'{field}' {url!r} is not a URL ({error})"
    # Any other scheme is a URL we will not call: that is the allow-list's 403, not a 400.
    if not parts.scheme or not parts.hostname:
        return f"'{field}' {url!r} is not an absolute URL"
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        return f"'{field}' {url!r} has a port that is not a number from 0 to 65535"
    # httpx is heavy to import and only a config with a URL needs it, so it is loaded here.
    import httpx

    try:
        httpx.URL(url)  # the client that will call it must take it too
    except (httpx.InvalidURL, ValueError) as error:
        return f"'{field}' {url!r} is not a URL the HTTP client can call ({error})"
    return None


_CONFIG_KEYS = ("model", "passageModel", "queryModel", "endpointURL", "options", "vectorizeClassName")


TruncationDirection = Literal["Left", "Right"]


class FeatureParameters(BaseModel):
    """Feature-extraction parameters for HF, sent only when a caller set them.

    They go at the root of the body, beside `inputs`: that is where TEI (behind HF Inference
    Endpoints) reads them, where the feature-extraction spec of `huggingface/tasks` puts them, and
    what `huggingface_hub.InferenceClient.feature_extraction` sends. TEI ignores a `parameters` key.
    """

    model_config = ConfigDict(frozen=True)

    normalize: bool | None = None
    truncate: bool | None = None
    # TEI's own spelling; every TEI version accepts it (newer ones also take lowercase).
    truncation_direction: TruncationDirection | None = None
    prompt_name: str | None = None

    def body_fields(self) -> dict[str, Any]:
        """Returns the parameters a caller set, for the root of the HF request body (unset ones left out)."""
        return self.model_dump(exclude_none=True)


class Target(BaseModel):
    """Where and how to call Hugging Face for one request."""

    model_config = ConfigDict(frozen=True)

    url: str
    model: str
    options: ModuleOptions
    # Empty for /vectorize and the worker, whose request bodies stay exactly as before.
    parameters: FeatureParameters = Field(default_factory=FeatureParameters)


def _host_allowed(scheme: str, host: str, port: int | None, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        allowed_scheme = "https"
        if "://" in pattern:
            allowed_scheme, pattern = pattern.split("://", 1)
        if scheme != allowed_scheme:
            continue
        pattern_host, _, pattern_port = pattern.partition(":")
        if pattern_port and not fnmatch.fnmatchcase(str(port), pattern_port):
            continue
        if fnmatch.fnmatchcase(host, pattern_host):
            return True
    return False


def _check_allowed(url: str, patterns: tuple[str, ...], field: str, setting: str, code: str) -> None:
    """The one SSRF rule for a URL a caller names: callable, no credentials, on the allow-list.

    Takes the URL, the allow-list's patterns, the field and setting names (for the message) and
    the error code; raises `InvalidConfigError` (400) for no callable URL, else
    `EndpointNotAllowedError` (403, with `code`) for credentials in it or a host not allowed.
    """
    problem = endpoint_url_problem(url, field)
    if problem is not None:  # a config built without validation; never a 500 for it
        raise InvalidConfigError(problem)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username or parts.password:
        raise EndpointNotAllowedError(f"'{field}' must not carry credentials", code=code)
    if not _host_allowed(parts.scheme, host, parts.port, patterns):
        allowed = ", ".join(patterns) or f"none ({setting} is empty)"
        raise EndpointNotAllowedError(
            f"'{field}' host {host!r} over {parts.scheme} is not allowed; allowed: "
            f"{allowed} (https only unless a scheme is given)",
            code=code,
        )


def check_endpoint_allowed(url: str, settings: Settings) -> None:
    """Refuse an endpointURL we must never call: not https, or a host outside the allow-list.

    An allow-list entry is a host pattern (`*.endpoints.huggingface.cloud`) that admits https
    only; an entry spelled with a scheme and port (`http://127.0.0.1:8088`) admits exactly that,
    for local endpoints.
    """
    _check_allowed(url, settings.endpoint_url_allowed_hosts, "endpointURL", "ENDPOINT_URL_ALLOWED_HOSTS",
                   EndpointNotAllowedError.code)


def check_callback_allowed(url: str | None, settings: Settings) -> None:
    """Refuse a job's callbackUrl we must never call, by the endpointURL rules and its own allow-list.

    Takes the URL (None: no callback, nothing to check) and the settings; raises a 400 for no
    callable URL, a 403 `callback_not_allowed` for credentials in it or a host, scheme or port
    outside `CALLBACK_ALLOWED_HOSTS` (empty by default: no callbacks until the operator lists hosts).
    """
    if url is not None:
        _check_allowed(url, settings.callback_allowed_hosts, "callbackUrl", "CALLBACK_ALLOWED_HOSTS",
                       "callback_not_allowed")


DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def _origin(parts: SplitResult) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, the port spelled out; None for anything else."""
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[scheme]


def _entry_origin(entry: str) -> Origin | None:
    """A DEFAULT_TOKEN_HOSTS entry: `host` (https) or `scheme://host:port`."""
    return _origin(urlsplit(entry if "://" in entry else f"https://{entry}"))


def _climbs(path: str) -> bool:
    """Whether a path has `.` or `..` segments (even percent-encoded), which could leave a base path."""
    return any(unquote(segment) in (".", "..") for segment in path.split("/"))


def _under(path: str, base_path: str) -> bool:
    base = base_path.rstrip("/")
    return not base or path == base or path.startswith(f"{base}/")


def default_token_may_go_to(url: str, settings: Settings) -> bool:
    """Whether the deployment's default token may be sent to `url`: the one rule, for every route.

    Takes the URL to be called and the settings; True only for `HF_API_BASE_URL` (same scheme,
    host and port, and a path under its base path) and for the exact origins the operator lists
    in `DEFAULT_TOKEN_HOSTS`. Everywhere else (any other allowed endpointURL host, which on
    `*.endpoints.huggingface.cloud` anyone can create) the caller must bring their own token.
    """
    if endpoint_url_problem(url) is not None:
        return False
    parts = urlsplit(url)
    origin = _origin(parts)
    if origin is None or parts.username or parts.password or _climbs(parts.path):
        return False
    base = urlsplit(settings.hf_api_base_url)
    if origin == _origin(base) and _under(parts.path, base.path):
        return True
    return any(origin == _entry_origin(entry) for entry in settings.default_token_hosts)


def resolve_target(config: ModuleConfig, purpose: Purpose, settings: Settings) -> Target:
    """The one URL to call for `config` and `purpose`, with its options.

    Raises `EndpointNotAllowedError` (403) for an endpointURL we must never call and
    `InvalidConfigError` (400) for one that is no callable URL.
    """
    if config.endpoint_url:
        check_endpoint_allowed(config.endpoint_url, settings)
        return Target(url=config.endpoint_url, model=config.endpoint_url, options=config.options)
    model = config.model_for(purpose, settings.default_model)
    url = f"{settings.hf_api_base_url}/models/{model}/pipeline/feature-extraction"
    return Target(url=url, model=model, options=config.options)
