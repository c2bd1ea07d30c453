"""The service's API key, from `x-api-key` or `Authorization: Bearer`: the authorizer's logic.

Weaviate's `text2vec-huggingface` (pointed at this service with `endpointURL`) and
langchain-community's client can send only `Authorization: Bearer <key>`. The REST API's API key
source is therefore the authorizer (`ApiKeySourceType: AUTHORIZER`): a REQUEST Lambda authorizer
picks the key out of either header and hands it back as `usageIdentifierKey`; API Gateway then
checks it against the usage plan (403 `Forbidden` for a missing or unknown key) and meters and
throttles it exactly as it does a key sent as `x-api-key`. The authorizer itself never decides
whether a key is valid, so it needs no permission to read API keys.

`x-api-key` wins when both are sent: a client that sends it may be sending its own Hugging Face
token as the bearer. When the bearer *was* the key, the answer's context says so
(`apiKeySource: "bearer"`), and the API function then takes no Hugging Face token from
`Authorization` (it would be the service's key, not an HF token).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

API_KEY_HEADER = "x-api-key"
BEARER_SOURCE = "bearer"
HEADER_SOURCE = "header"
KeySource = Literal["header", "bearer"]
# The principal when no key was presented: API Gateway refuses the request (403) for the missing
# key itself, after the authorizer, as it would for a keyless request to a keyed route.
ANONYMOUS = "anonymous"


class PresentedKey(BaseModel):
    """A candidate API key and the header it came in."""

    model_config = ConfigDict(frozen=True)

    value: str
    source: KeySource


class AuthorizerRequest(BaseModel):
    """The parts of API Gateway's REQUEST authorizer event (REST API) that the decision reads."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    method_arn: str = Field(alias="methodArn")
    headers: dict[str, str] | None = None


class PolicyStatement(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    action: str = Field(default="execute-api:Invoke", alias="Action")
    effect: Literal["Allow", "Deny"] = Field(alias="Effect")
    resource: str = Field(alias="Resource")


class PolicyDocument(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    version: str = Field(default="2012-10-17", alias="Version")
    statement: list[PolicyStatement] = Field(alias="Statement")


class AuthorizerResponse(BaseModel):
    """What a REST API Lambda authorizer answers (`model_dump(by_alias=True, exclude_none=True)`)."""

    model_config = ConfigDict(populate_by_name=True)

    principal_id: str = Field(alias="principalId")
    policy_document: PolicyDocument = Field(alias="policyDocument")
    usage_identifier_key: str | None = Field(default=None, alias="usageIdentifierKey")
    # API Gateway passes these on as requestContext.authorizer.<name>: strings, numbers, booleans only.
    context: dict[str, str] = Field(default_factory=dict)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value by case-insensitive name (HTTP names are), None when absent."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == wanted and value is not None:
            return value
    return None


def presented_key(headers: Mapping[str, str] | None) -> PresentedKey | None:
    """The API key a request carries: `x-api-key`, else the token of `Authorization: Bearer`.

    Takes the request's headers (any case); returns None when neither holds a non-empty value.
    Other `Authorization` schemes (Basic, ...) are not a key.
    """
    own = (_header(headers, API_KEY_HEADER) or "").strip()
    if own:
        return PresentedKey(value=own, source=HEADER_SOURCE)
    scheme, _, credentials = (_header(headers, "Authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return PresentedKey(value=credentials.strip(), source=BEARER_SOURCE)
    return None


def principal_for(key: PresentedKey | None) -> str:
    """A principal id naming the key without revealing it (it lands in access logs)."""
    if key is None:
        return ANONYMOUS
    return "key-" + hashlib.sha256(key.value.encode("utf-8")).hexdigest()[:16]


def authorize(event: Mapping[str, Any]) -> dict[str, Any]:
    """The authorizer's answer to a REQUEST authorizer event, as a plain dict for API Gateway.

    Always Allow for the method asked about, with the presented key as `usageIdentifierKey` (none
    when the request has none): API Gateway itself then refuses a missing or unknown key with 403
    and meters a valid one. The context carries `apiKeySource` (`header`, `bearer` or `none`).
    """
    request = AuthorizerRequest.model_validate(event)
    key = presented_key(request.headers)
    answer = AuthorizerResponse(
        principal_id=principal_for(key),
        policy_document=PolicyDocument(statement=[PolicyStatement(effect="Allow", resource=request.method_arn)]),
        usage_identifier_key=key.value if key else None,
        context={"apiKeySource": key.source if key else "none"},
    )
    return answer.model_dump(by_alias=True, exclude_none=True)


def bearer_is_api_key(authorizer: Mapping[str, Any] | None) -> bool:
    """Whether the request's `Authorization: Bearer` was consumed as this service's API key.

    Takes `requestContext.authorizer` of the proxy event (None without an authorizer); True only
    when the authorizer said `apiKeySource: "bearer"`, so the bearer is no Hugging Face token.
    """
    return bool(authorizer) and authorizer.get("apiKeySource") == BEARER_SOURCE
