"""Runtime settings, read once from the function's environment.

Every knob an operator may turn lives here, with the default the template documents, so the
rest of the package takes a `Settings` value instead of reading `os.environ` itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_HF_API_BASE_URL = "https://router.huggingface.co/hf-inference"
DEFAULT_ALLOWED_HOSTS = "*.endpoints.huggingface.cloud,router.huggingface.co,api-inference.huggingface.co"
DEFAULT_MODEL = "sentence-transformers/msmarco-bert-base-dot-v5"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    hf_api_base_url: str = Field(DEFAULT_HF_API_BASE_URL, alias="HF_API_BASE_URL")
    default_model: str = Field(DEFAULT_MODEL, alias="DEFAULT_MODEL")
    default_token: str | None = Field(None, alias="HUGGINGFACE_APIKEY", repr=False)
    default_token_secret_arn: str | None = Field(None, alias="HUGGINGFACE_APIKEY_SECRET_ARN")
    endpoint_url_allowed_hosts: tuple[str, ...] = Field(
        tuple(DEFAULT_ALLOWED_HOSTS.split(",")), alias="ENDPOINT_URL_ALLOWED_HOSTS"
    )
    # Where the default token may go besides HF_API_BASE_URL: exact hosts (https), or
    # scheme://host:port for a local http endpoint. Empty: only HF_API_BASE_URL gets it.
    default_token_hosts: tuple[str, ...] = Field((), alias="DEFAULT_TOKEN_HOSTS")
    # Part of the KMS encryption context of a sealed token, so that it opens in this stack only.
    stack_name: str = Field("local", min_length=1, alias="STACK_NAME")

    # Hugging Face request shaping: how many texts per HTTP request, how many requests at once.
    hf_batch_size: int = Field(32, ge=1, le=1024, alias="HF_BATCH_SIZE")
    # ...and how many characters of text per request at most, as TEI bounds its batches by tokens:
    # a request of long texts is cut short so it does not time out as one. A longer text alone
    # still goes, in a request of its own.
    hf_batch_chars: int = Field(32_000, ge=1, alias="HF_BATCH_CHARS")
    hf_concurrency: int = Field(8, ge=1, le=256, alias="HF_CONCURRENCY")
    hf_timeout_seconds: float = Field(25.0, gt=0, alias="HF_TIMEOUT_SECONDS")
    hf_max_attempts: int = Field(6, ge=1, le=20, alias="HF_MAX_ATTEMPTS")
    hf_backoff_base_seconds: float = Field(0.5, ge=0, alias="HF_BACKOFF_BASE_SECONDS")
    hf_backoff_cap_seconds: float = Field(20.0, ge=0, alias="HF_BACKOFF_CAP_SECONDS")

    # Request limits: past these the API answers 413 with the limit in the message.
    sync_max_texts: int = Field(100, ge=1, alias="SYNC_MAX_TEXTS")
    max_texts: int = Field(50_000, ge=1, alias="MAX_TEXTS")
    max_text_chars: int = Field(20_000, ge=1, alias="MAX_TEXT_CHARS")
    # The HF/TEI/OpenAI routes have no jobs to fall back on: the most inputs they embed inline
    # (OpenAI's own per-request limit), so one request cannot make thousands of HF calls.
    compat_max_texts: int = Field(2048, ge=1, alias="COMPAT_MAX_TEXTS")
    # Every answer is planned or cut to fit this many bytes of Lambda's 6 MB response envelope,
    # with room to spare (`vectorizer.api.answer_budget`).
    answer_budget_bytes: int = Field(5_500_000, ge=100_000, le=6_000_000, alias="ANSWER_BUDGET_BYTES")

    # Bulk jobs.
    chunk_size: int = Field(256, ge=1, alias="CHUNK_SIZE")
    # SQS takes up to 1 MiB per message on a queue that sets MaximumMessageSize; stay clear of it.
    max_message_bytes: int = Field(900_000, ge=1024, alias="MAX_MESSAGE_BYTES")
    max_receive_count: int = Field(5, ge=1, alias="MAX_RECEIVE_COUNT")
    job_ttl_days: int = Field(7, ge=1, alias="JOB_TTL_DAYS")
    max_reported_errors: int = Field(1000, ge=0, alias="MAX_REPORTED_ERRORS")
    # Vector writes (`VectorStore.put`, sync boto3) in flight at once per container: a chunk stores
    # each HF batch on a thread of a pool this size while its other batches are still at HF.
    write_concurrency: int = Field(8, ge=1, le=64, alias="WRITE_CONCURRENCY")

    # The sweeper: an open job without progress for this long is closed, its uncounted items
    # reported missing. None: past the last delivery any chunk can get (the queue's visibility
    # timeout x MAX_RECEIVE_COUNT) plus STALL_MARGIN_SECONDS.
    stall_seconds: int | None = Field(None, ge=1, alias="STALL_SECONDS")
    queue_visibility_seconds: int = Field(1860, ge=1, alias="QUEUE_VISIBILITY_SECONDS")
    stall_margin_seconds: int = Field(900, ge=0, alias="STALL_MARGIN_SECONDS")
    # A job the API never finished queueing (it died mid-submit) is closed sooner: well past the
    # API's own 29 s timeout, nothing more will be sent for it.
    submit_stall_seconds: int = Field(300, ge=1, alias="SUBMIT_STALL_SECONDS")
    # POST /vectorize with an Idempotency-Key: the answers kept for retries, and for how long.
    idempotency_table: str = Field("vectorizer-idempotency", alias="IDEMPOTENCY_TABLE")
    idempotency_hours: int = Field(24, ge=1, le=168, alias="IDEMPOTENCY_HOURS")

    jobs_table: str = Field("vectorizer-jobs", alias="JOBS_TABLE")
    vectors_table: str = Field("vectorizer-vectors", alias="VECTORS_TABLE")
    # The content cache of vectors (hf/cache.py); empty: no cache, repeated texts are still sent once a call.
    cache_table: str = Field("", alias="CACHE_TABLE")
    cache_ttl_days: int = Field(30, ge=1, alias="CACHE_TTL_DAYS")
    work_queue_url: str = Field("", alias="WORK_QUEUE_URL")
    dead_letter_queue_url: str = Field("", alias="DEAD_LETTER_QUEUE_URL")
    # Where the dead-letter queue's consumer keeps what it consumed, for the operator to redrive.
    parked_chunks_queue_url: str = Field("", alias="PARKED_CHUNKS_QUEUE_URL")
    token_key_id: str = Field("", alias="TOKEN_KEY_ID")

    # When a job ends (`vectorizer.jobs.notifications`): the EventBridge bus its event goes to
    # (empty: no event is published), and where the notifier may POST a job's callbackUrl.
    event_bus_name: str = Field("", alias="EVENT_BUS_NAME")
    # Host patterns a callbackUrl may name, by the endpointURL rules (https unless a scheme is
    # spelled out). Empty: every callbackUrl is refused, so the service calls no one by default.
    callback_allowed_hosts: tuple[str, ...] = Field((), alias="CALLBACK_ALLOWED_HOSTS")
    # The key callbacks are signed with: Secrets Manager deployed (read once per cold start),
    # the value itself in local runs.
    callback_signing_secret: str | None = Field(None, alias="CALLBACK_SIGNING_SECRET", repr=False)
    callback_signing_secret_arn: str | None = Field(None, alias="CALLBACK_SIGNING_SECRET_ARN")
    callback_timeout_seconds: float = Field(5.0, gt=0, le=30, alias="CALLBACK_TIMEOUT_SECONDS")
    callback_max_attempts: int = Field(5, ge=1, le=20, alias="CALLBACK_MAX_ATTEMPTS")
    callback_backoff_base_seconds: float = Field(1.0, ge=0, alias="CALLBACK_BACKOFF_BASE_SECONDS")
    callback_backoff_cap_seconds: float = Field(15.0, ge=0, alias="CALLBACK_BACKOFF_CAP_SECONDS")

    # File jobs (`vectorizer.files`): the bucket of uploads (uploads/{jobId}/input.jsonl|csv) and
    # outputs (jobs/{jobId}/), the queue the splitter reads (S3 notifications and {"jobId"}),
    # records per chunk message, the other buckets an s3:// URI may name (empty: only ours), and
    # how long the presigned upload and output links live.
    files_bucket: str = Field("", alias="FILES_BUCKET")
    split_queue_url: str = Field("", alias="SPLIT_QUEUE_URL")
    file_chunk_size: int = Field(1000, ge=1, alias="FILE_CHUNK_SIZE")
    input_buckets: tuple[str, ...] = Field((), alias="INPUT_BUCKETS")
    upload_url_seconds: int = Field(900, ge=1, le=604_800, alias="UPLOAD_URL_SECONDS")
    output_url_seconds: int = Field(3600, ge=1, le=604_800, alias="OUTPUT_URL_SECONDS")

    @field_validator("input_buckets", mode="before")
    @classmethod
    def _split_buckets(cls, value: object) -> object:
        # A comma list, as CloudFormation passes the InputBuckets parameter; blanks dropped.
        if isinstance(value, str):
            return tuple(bucket.strip() for bucket in value.split(",") if bucket.strip())
        return value

    @field_validator("endpoint_url_allowed_hosts", "default_token_hosts", "callback_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(host.strip().lower() for host in value.split(",") if host.strip())
        return value

    @field_validator("default_token_hosts")
    @classmethod
    def _exact_hosts_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # A pattern would hand the operator's token to every host it matches, strangers' included
        # (anyone can create a *.endpoints.huggingface.cloud endpoint): refuse it at cold start.
        patterns = [host for host in value if "*" in host or "?" in host]
        if patterns:
            raise ValueError(f"DEFAULT_TOKEN_HOSTS takes exact hosts, not patterns: {', '.join(patterns)}")
        return value

    @property
    def stall_bound_seconds(self) -> int:
        """Seconds without progress after which the sweeper closes an open job (see `stall_seconds`)."""
        if self.stall_seconds is not None:
            return self.stall_seconds
        return self.queue_visibility_seconds * self.max_receive_count + self.stall_margin_seconds

    @field_validator(
        "default_token", "default_token_secret_arn", "callback_signing_secret", "callback_signing_secret_arn",
        "stall_seconds", mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # CloudFormation cannot pass "no value" to an environment variable, only an empty string.
        return value or None

    @field_validator("hf_api_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


def settings_from(environ: Mapping[str, str]) -> Settings:
    """Takes an environment mapping; returns validated `Settings` (a ValidationError names a bad value)."""
    return Settings.model_validate(dict(environ))


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """The settings of this container: the environment does not change while it is warm."""
    return settings_from(os.environ)
