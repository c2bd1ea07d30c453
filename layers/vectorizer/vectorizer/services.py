"""Wiring: the clients and stores one container uses, built once from its settings."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
import httpx
from botocore.config import Config

from vectorizer.credentials import DefaultToken, TokenSealer
from vectorizer.hf.cache import CachedEmbedder, DynamoCacheStore
from vectorizer.hf.client import HuggingFaceClient
from vectorizer.jobs.callbacks import CallbackSecret, Notifier
from vectorizer.jobs.job_store import JobStore
from vectorizer.jobs.notifications import EventBridgeEvents, NoEvents
from vectorizer.jobs.vector_store import VectorStore
from vectorizer.jobs.work_queue import ChunkQueue
from vectorizer.settings import Settings, current_settings

# Standard retry mode backs off on throttling and 5xx from AWS itself.
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
# A job's end is announced best-effort, after its status is written: a slow EventBridge must not
# hold a worker for long, so it gets one retry and short timeouts.
EVENTS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=5)


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


def build_services(settings: Settings | None = None) -> Services:
    """The boto3- and httpx-backed services for `settings` (default: the function's environment)."""
    settings = settings or current_settings()
    dynamodb = boto3.client("dynamodb", config=AWS_CONFIG)
    sqs = boto3.client("sqs", config=AWS_CONFIG)
    kms = boto3.client("kms", config=AWS_CONFIG)

    def read_secret(arn: str) -> str:
        return boto3.client("secretsmanager", config=AWS_CONFIG).get_secret_value(SecretId=arn)["SecretString"]

    return Services(
        settings=settings,
        hf=CachedEmbedder(
            HuggingFaceClient(settings),
            DynamoCacheStore(dynamodb, settings.cache_table, settings.cache_ttl_days) if settings.cache_table else None,
        ),
        jobs=JobStore(dynamodb, settings.jobs_table, settings.job_ttl_days),
        vectors=VectorStore(dynamodb, settings.vectors_table, settings.job_ttl_days),
        queue=ChunkQueue(sqs, settings.work_queue_url, settings.dead_letter_queue_url, settings.max_message_bytes),
        sealer=TokenSealer(kms, settings.token_key_id, stack=settings.stack_name),
        default_token=DefaultToken(settings, read_secret),
        events=(
            EventBridgeEvents(boto3.client("events", config=EVENTS_CONFIG), settings.event_bus_name)
            if settings.event_bus_name else NoEvents()
        ),
    )


def build_notifier(settings: Settings | None = None) -> Notifier:
    """The notifier function's dependencies for `settings` (default: the function's environment).

    Its HTTP client never follows a redirect: a callback reaches the host that was allowed or none.
    """
    settings = settings or current_settings()

    def read_secret(arn: str) -> str:
        return boto3.client("secretsmanager", config=AWS_CONFIG).get_secret_value(SecretId=arn)["SecretString"]

    return Notifier(
        settings=settings,
        jobs=JobStore(boto3.client("dynamodb", config=AWS_CONFIG), settings.jobs_table, settings.job_ttl_days),
        http=httpx.Client(follow_redirects=False, timeout=settings.callback_timeout_seconds),
        secret=CallbackSecret(settings, read_secret),
    )
