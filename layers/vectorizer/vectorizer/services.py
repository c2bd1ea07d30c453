"""Wiring: the clients and stores one container uses, built once from its settings.

Nothing here is built at import: boto3, httpx and X-Ray's recorder load when the first event
needs them, so a cold start pays only for the handler's own modules before its first event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from vectorizer.credentials import DefaultToken, TokenSealer
from vectorizer.files.file_job_store import FileJobStore
from vectorizer.files.file_jobs import FileJobManifests, FileJobOutputs, FileJobRecords
from vectorizer.files.objects import S3Objects
from vectorizer.files.records import ObjectText
from vectorizer.files.service import SplitQueue
from vectorizer.files.shards import ShardVectorStore
from vectorizer.hf.cache import CachedEmbedder, DynamoCacheStore
from vectorizer.hf.client import HuggingFaceClient
from vectorizer.jobs.callbacks import CallbackSecret, Notifier
from vectorizer.jobs.job_store import JobRecord, JobStore
from vectorizer.jobs.notifications import EventBridgeEvents, NoEvents
from vectorizer.jobs.ports import VectorStorePort
from vectorizer.jobs.vector_store import VectorStore
from vectorizer.jobs.work_queue import ChunkQueue
from vectorizer.settings import Settings, current_settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])

# Standard retry mode backs off on throttling and 5xx from AWS itself.
AWS_CONFIG = {"retries": {"mode": "standard", "max_attempts": 5}, "connect_timeout": 5, "read_timeout": 20}
# A job's end is announced best-effort, after its status is written: a slow EventBridge must not
# hold a worker for long, so it gets one retry and short timeouts.
EVENTS_CONFIG = {"retries": {"mode": "standard", "max_attempts": 2}, "connect_timeout": 2, "read_timeout": 5}
# S3 signs with SigV4, so that presigned links last as long as asked (up to 7 days).
S3_CONFIG = {**AWS_CONFIG, "signature_version": "s3v4"}


def aws_client(service: str, config: Mapping[str, Any] = AWS_CONFIG) -> Any:
    """A boto3 client for `service` (`"dynamodb"`, `"sqs"`...) configured with botocore's `Config(**config)`.

    boto3 and botocore's client machinery load on the first call, not at import: they cost more
    than all the rest of a handler's imports.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(**config))


@dataclass
class Services:
    """One container's clients and stores; it is the `jobs.ports.JobDependencies` the job service takes."""

    settings: Settings
    hf: CachedEmbedder  # every path (inline, compatible routes, worker) embeds through the cache
    jobs: JobStore
    vectors: VectorStore
    queue: ChunkQueue
    sealer: TokenSealer
    default_token: DefaultToken
    events: EventBridgeEvents | NoEvents
    # File jobs: their state beside the job records, and the split queue's continuations.
    file_jobs: FileJobStore
    split_queue: SplitQueue
    file_records: FileJobRecords

    @functools.cached_property
    def objects(self) -> S3Objects:
        """The files bucket and input buckets; its S3 client is built on first use (only file jobs need it)."""
        return S3Objects(aws_client("s3", S3_CONFIG))

    @functools.cached_property
    def file_outputs(self) -> FileJobOutputs:
        """A file job's input and output links, as `GET /jobs/{id}` reports them."""
        settings = self.settings
        return FileJobOutputs(self.objects, self.file_jobs, settings.files_bucket, settings.output_url_seconds)

    def object_text_for(self, object_class: dict[str, Any]) -> ObjectText:
        """The text rule of a Weaviate class for file lines that are Weaviate objects: the same
        rules as `objects` on `POST /vectorize` (`api.weaviate_objects.object_text`)."""
        from vectorizer.api.weaviate_objects import object_text

        return functools.partial(object_text, object_class)

    def vector_store_for(self, job: JobRecord, chunk: int) -> VectorStorePort:
        """Where chunk `chunk` of `job` stores its vectors: its shard in the files bucket for a file
        job (`JobRecord.writes_files`), else the vectors table."""
        if job.writes_files:
            return ShardVectorStore(self.objects, self.settings.files_bucket, job.job_id, chunk)
        return self.vectors


def build_services(settings: Settings | None = None) -> Services:
    """The boto3- and httpx-backed services for `settings` (default: the function's environment)."""
    settings = settings or current_settings()
    dynamodb = aws_client("dynamodb")
    sqs = aws_client("sqs")
    kms = aws_client("kms")

    def read_secret(arn: str) -> str:
        return aws_client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]

    return Services(
        settings=settings,
        hf=CachedEmbedder(
            HuggingFaceClient(settings),
            DynamoCacheStore(dynamodb, settings.cache_table, settings.cache_ttl_days) if settings.cache_table else None,
            settings,
        ),
        jobs=JobStore(dynamodb, settings.jobs_table, settings.job_ttl_days),
        vectors=VectorStore(dynamodb, settings.vectors_table, settings.job_ttl_days),
        queue=ChunkQueue(sqs, settings.work_queue_url, settings.dead_letter_queue_url, settings.max_message_bytes),
        sealer=TokenSealer(kms, settings.token_key_id, stack=settings.stack_name),
        default_token=DefaultToken(settings, read_secret),
        events=(
            EventBridgeEvents(aws_client("events", EVENTS_CONFIG), settings.event_bus_name)
            if settings.event_bus_name else NoEvents()
        ),
        file_jobs=FileJobStore(dynamodb, settings.jobs_table, settings.job_ttl_days),
        split_queue=SplitQueue(sqs, settings.split_queue_url),
        file_records=FileJobRecords(dynamodb, settings.jobs_table, settings.job_ttl_days),
    )


def build_notifier(settings: Settings | None = None) -> Notifier:
    """The notifier function's dependencies for `settings` (default: the function's environment).

    Its HTTP client never follows a redirect: a callback reaches the host that was allowed or none.
    """
    import httpx  # the notifier's one HTTP client, loaded with it

    settings = settings or current_settings()

    def read_secret(arn: str) -> str:
        return aws_client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]

    return Notifier(
        settings=settings,
        jobs=JobStore(aws_client("dynamodb"), settings.jobs_table, settings.job_ttl_days),
        http=httpx.Client(follow_redirects=False, timeout=settings.callback_timeout_seconds),
        secret=CallbackSecret(settings, read_secret),
    )


def build_manifests(settings: Settings | None = None) -> FileJobManifests:
    """The notifier's writer of ended file jobs' manifests, for `settings` (default: the environment)."""
    settings = settings or current_settings()
    dynamodb = aws_client("dynamodb")
    return FileJobManifests(
        S3Objects(aws_client("s3", S3_CONFIG)), FileJobStore(dynamodb, settings.jobs_table, settings.job_ttl_days),
        JobStore(dynamodb, settings.jobs_table, settings.job_ttl_days), settings.files_bucket,
    )


class LazyTracer:
    """Powertools' `Tracer`, built at the first traced call rather than at import.

    Building a `Tracer` imports aws_xray_sdk and, in Lambda with tracing on, patches every library
    it knows (botocore, httpx, http.client...), importing each: work a cold start need not do
    before its first event. `capture_lambda_handler` and `capture_method` take a function and
    return one that, on its first call, builds the tracer and wraps the function with Powertools'
    own decorator of that name, then calls it; the result is traced exactly as the eager form.
    """

    def __init__(self) -> None:
        self._tracer: Tracer | None = None

    def tracer(self) -> Tracer:
        """The Powertools `Tracer`, built on the first call and the same one after."""
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer()
        return self._tracer

    def capture_lambda_handler(self, handler: F) -> F:
        """`handler` traced as a Lambda handler (`Tracer.capture_lambda_handler`) from its first call."""
        return self._deferred(handler, "capture_lambda_handler")

    def capture_method(self, method: F) -> F:
        """`method` traced as a subsegment (`Tracer.capture_method`) from its first call."""
        return self._deferred(method, "capture_method")

    def _deferred(self, function: F, decorator: str) -> F:
        wrapped: Callable[..., Any] | None = None

        # functools.wraps keeps the signature visible: Powertools' batch processor looks for a
        # `lambda_context` parameter on the record handler.
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal wrapped
            if wrapped is None:
                wrapped = getattr(self.tracer(), decorator)(function)
            return wrapped(*args, **kwargs)

        return call  # type: ignore[return-value]
