"""Whose job is it: the caller's identity as API Gateway vouches for it.

A job records the identity of the caller who made it, and only the same identity can read its
status and vectors; anyone else is told the job does not exist, exactly as for an unknown id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ANONYMOUS = "anonymous"


def caller_identity(request_context: Mapping[str, Any] | None) -> str:
    """The owner to record for (or check against) a request, from its API Gateway request context.

    Takes the proxy event's `requestContext` and returns:
    - `apikey:<id>`: `identity.apiKeyId`, when the caller used an API key (API Gateway set it
      only after it checked the key);
    - `principal:<id>`: `authorizer.principalId`, when a Lambda authorizer let the caller in;
    - `anonymous` otherwise.
    The prefixes keep an API key id and a principal that happen to be spelt alike apart.

    With authentication off (`RequireApiKey=false`, no authorizer) every caller is `anonymous`,
    so all of them share one owner: then the job id, a random UUID, is the only secret that
    guards a job.
    """
    context = request_context or {}
    identity = context.get("identity") or {}
    api_key_id = identity.get("apiKeyId") if isinstance(identity, Mapping) else None
    if isinstance(api_key_id, str) and api_key_id:
        return f"apikey:{api_key_id}"
    authorizer = context.get("authorizer") or {}
    principal = authorizer.get("principalId") if isinstance(authorizer, Mapping) else None
    if isinstance(principal, str) and principal:
        return f"principal:{principal}"
    return ANONYMOUS
