"""The errors this service reports to a person, each with its HTTP status and a machine code.

Handlers turn any `VectorizerError` into `{"error": message, "code": code}` with `status`;
nothing else about an exception (type, stack, arguments) ever reaches a caller.
"""

from __future__ import annotations


class VectorizerError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, str]:
        """Returns the error as the API answers it: `{"error": message, "code": code}`."""
        return {"error": self.message, "code": self.code}


class InvalidConfigError(VectorizerError):
    status = 400
    code = "invalid_config"


class MissingTokenError(VectorizerError):
    status = 401
    code = "missing_token"


class EndpointNotAllowedError(VectorizerError):
    status = 403
    code = "endpoint_not_allowed"


class JobNotFoundError(VectorizerError):
    status = 404
    code = "job_not_found"


class PayloadTooLargeError(VectorizerError):
    status = 413
    code = "payload_too_large"


class HuggingFaceError(VectorizerError):
    """Hugging Face answered with an error, or did not answer in time.

    `retryable` says whether the same request may succeed later (loading, rate limits, 5xx,
    timeouts); `item_specific` whether the refusal is about the inputs themselves, so that a
    batch can be split to find the one input at fault.
    """

    status = 502
    code = "hf_error"

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        code: str = "hf_error",
        retryable: bool = False,
        item_specific: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.retryable = retryable
        self.item_specific = item_specific
        self.retry_after = retry_after
