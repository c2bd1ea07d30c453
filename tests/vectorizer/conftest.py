"""Fixtures for the vectorizer package's unit tests: moto clients and the template's tables.

The tables are created with the key schemas read from `template.yaml`, so a test of a store
cannot pass against a key layout the deployed stack does not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.template_stack import load_template

JOBS_TABLE = "unit-jobs"
VECTORS_TABLE = "unit-vectors"


@cache
def table_definition(resource: str) -> dict[str, Any]:
    properties = load_template()["Resources"][resource]["Properties"]
    return {
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties["BillingMode"],
        **({"GlobalSecondaryIndexes": properties["GlobalSecondaryIndexes"]}
           if "GlobalSecondaryIndexes" in properties else {}),
    }


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb")
    client.create_table(TableName=JOBS_TABLE, **table_definition("JobsTable"))
    client.create_table(TableName=VECTORS_TABLE, **table_definition("VectorsTable"))
    return client
