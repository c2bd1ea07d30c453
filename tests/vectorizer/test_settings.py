"""Runtime settings read from the environment, and the error types' HTTP shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from local.template_stack import function_environments, load_template
from vectorizer.errors import (
    EndpointNotAllowedError,
    HuggingFaceError,
    InvalidConfigError,
    JobNotFoundError,
    MissingTokenError,
    PayloadTooLargeError,
    VectorizerError,
)
from vectorizer.settings import Settings, settings_from


def test_defaults() -> None:
    s = settings_from({})
    assert s.hf_api_base_url == "https://router.huggingface.co/hf-inference"
    assert s.default_model == "sentence-transformers/msmarco-bert-base-dot-v5"
    assert s.endpoint_url_allowed_hosts == (
        "*.endpoints.huggingface.cloud", "router.huggingface.co", "api-inference.huggingface.co"
    )
    assert (s.hf_batch_size, s.hf_concurrency, s.hf_timeout_seconds, s.hf_max_attempts) == (32, 8, 25.0, 6)
    assert (s.hf_backoff_base_seconds, s.hf_backoff_cap_seconds) == (0.5, 20.0)
    assert (s.chunk_size, s.max_message_bytes, s.max_receive_count) == (256, 900_000, 5)
    assert (s.default_token, s.default_token_secret_arn) == (None, None)


# Every setting the template lets an operator turn through a parameter.
TEMPLATE_PARAMETERS = {
    "HF_API_BASE_URL": "HfApiBaseUrl", "DEFAULT_MODEL": "DefaultModel",
    "HUGGINGFACE_APIKEY_SECRET_ARN": "HuggingFaceApiKeySecretArn",
    "ENDPOINT_URL_ALLOWED_HOSTS": "EndpointUrlAllowedHosts", "HF_BATCH_SIZE": "HfBatchSize",
    "HF_BATCH_CHARS": "HfBatchChars",
    "HF_CONCURRENCY": "HfConcurrency", "SYNC_MAX_TEXTS": "SyncMaxTexts", "CHUNK_SIZE": "ChunkSize",
    "MAX_RECEIVE_COUNT": "MaxReceiveCount", "JOB_TTL_DAYS": "JobTtlDays",
    "DEFAULT_TOKEN_HOSTS": "DefaultTokenHosts", "CALLBACK_ALLOWED_HOSTS": "CallbackAllowedHosts",
    "FILE_CHUNK_SIZE": "FileChunkSize", "INPUT_BUCKETS": "InputBuckets",
}


# Parameters only one function reads, besides the shared ones above.
OWN_PARAMETERS = {
    "ApiFunction": {"IDEMPOTENCY_HOURS": "IdempotencyHours"},
    "WorkerFunction": {"WRITE_CONCURRENCY": "WriteConcurrency"},
    "SplitterFunction": {},
    "SweeperFunction": {"STALL_SECONDS": "StallSeconds", "SUBMIT_STALL_SECONDS": "SubmitStallSeconds"},
}


@pytest.mark.parametrize("function", list(OWN_PARAMETERS))
def test_template_defaults_match_settings_defaults(function: str) -> None:
    # A deploy with default parameters and a run with no environment (tests, local tools) must
    # behave the same: each parameter's default, read as the function reads it, is the field's.
    template = load_template()
    environment = function_environments(template)[function]
    referenced = {
        name: value["Ref"] for name, value in environment.items()
        if isinstance(value, dict) and value.get("Ref") in template["Parameters"]
        and name in {field.alias for field in Settings.model_fields.values()}
    }
    assert referenced == TEMPLATE_PARAMETERS | OWN_PARAMETERS[function]
    fields = {field.alias: name for name, field in Settings.model_fields.items()}
    defaults = Settings()
    for variable, parameter in referenced.items():
        deployed = settings_from({variable: str(template["Parameters"][parameter]["Default"])})
        field = fields[variable]
        assert getattr(deployed, field) == getattr(defaults, field), (variable, parameter)


def test_environment_names_are_read_and_converted() -> None:
    s = settings_from({
        "HF_API_BASE_URL": "http://127.0.0.1:8080//", "HF_BATCH_SIZE": "4", "HF_CONCURRENCY": "2",
        "HF_TIMEOUT_SECONDS": "1.5", "ENDPOINT_URL_ALLOWED_HOSTS": "A.Example.com, ,http://127.0.0.1:*",
        "HUGGINGFACE_APIKEY": "hf_x", "UNRELATED": "ignored",
    })
    assert s.hf_api_base_url == "http://127.0.0.1:8080"
    assert (s.hf_batch_size, s.hf_concurrency, s.hf_timeout_seconds) == (4, 2, 1.5)
    assert s.endpoint_url_allowed_hosts == ("a.example.com", "http://127.0.0.1:*")
    assert s.default_token == "hf_x"


def test_blank_token_settings_mean_none() -> None:
    # CloudFormation passes "no value" as an empty string.
    s = settings_from({"HUGGINGFACE_APIKEY": "", "HUGGINGFACE_APIKEY_SECRET_ARN": ""})
    assert (s.default_token, s.default_token_secret_arn) == (None, None)


def test_token_is_kept_out_of_the_repr() -> None:
    assert "hf_secret" not in repr(settings_from({"HUGGINGFACE_APIKEY": "hf_secret"}))


@pytest.mark.parametrize(
    ("name", "value"),
    [("HF_BATCH_SIZE", "0"), ("HF_BATCH_SIZE", "1025"), ("HF_CONCURRENCY", "0"), ("HF_TIMEOUT_SECONDS", "0"),
     ("HF_MAX_ATTEMPTS", "0"), ("MAX_MESSAGE_BYTES", "100"), ("CHUNK_SIZE", "x")],
)
def test_out_of_range_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        settings_from({name: value})


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (VectorizerError("m"), 400, "bad_request"),
        (InvalidConfigError("m"), 400, "invalid_config"),
        (MissingTokenError("m"), 401, "missing_token"),
        (EndpointNotAllowedError("m"), 403, "endpoint_not_allowed"),
        (JobNotFoundError("m"), 404, "job_not_found"),
        (PayloadTooLargeError("m"), 413, "payload_too_large"),
        (HuggingFaceError("m"), 502, "hf_error"),
        (VectorizerError("m", status=503, code="queue_unavailable"), 503, "queue_unavailable"),
    ],
)
def test_error_types_carry_status_and_code(error: VectorizerError, status: int, code: str) -> None:
    assert (error.status, error.code, error.message, str(error)) == (status, code, "m", "m")
    assert error.to_body() == {"error": "m", "code": code}


def test_hugging_face_error_flags() -> None:
    error = HuggingFaceError("m", status=429, code="hf_rate_limited", retryable=True, retry_after=2.0)
    assert (error.retryable, error.item_specific, error.retry_after) == (True, False, 2.0)
    assert HuggingFaceError("m").retryable is False


def test_the_stall_bound_defaults_to_every_delivery_of_a_chunk_plus_a_margin() -> None:
    assert settings_from({}).stall_bound_seconds == 1860 * 5 + 900
    assert settings_from({"MAX_RECEIVE_COUNT": "8", "STALL_SECONDS": ""}).stall_bound_seconds == 1860 * 8 + 900
    assert settings_from({"STALL_SECONDS": "600"}).stall_bound_seconds == 600


def test_file_job_settings_default_to_the_service_bucket_only_and_read_a_comma_list_of_input_buckets() -> None:
    defaults = settings_from({})
    assert (defaults.files_bucket, defaults.split_queue_url, defaults.file_chunk_size, defaults.input_buckets,
            defaults.upload_url_seconds, defaults.output_url_seconds) == ("", "", 1000, (), 900, 3600)
    s = settings_from({"FILES_BUCKET": "files", "SPLIT_QUEUE_URL": "http://q/split", "FILE_CHUNK_SIZE": "50",
                       "INPUT_BUCKETS": " corpus-a, ,corpus-b ", "UPLOAD_URL_SECONDS": "60",
                       "OUTPUT_URL_SECONDS": "120"})
    assert (s.files_bucket, s.split_queue_url, s.file_chunk_size, s.input_buckets,
            s.upload_url_seconds, s.output_url_seconds) == ("files", "http://q/split", 50,
                                                            ("corpus-a", "corpus-b"), 60, 120)
