"""A files bucket in moto, and the S3 adapter over it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config

from vectorizer.files.objects import S3Objects

BUCKET = "files-unit"


@pytest.fixture
def s3(aws: None) -> Any:
    # Presigned links are SigV4 (X-Amz-Expires, at most 7 days), as the deployed client signs them.
    client = boto3.client("s3", config=Config(signature_version="s3v4"))
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def objects(s3: Any) -> S3Objects:
    return S3Objects(s3, block_bytes=4)


@pytest.fixture
def bucket(s3: Any) -> str:
    return BUCKET
