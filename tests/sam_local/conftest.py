"""Fixtures for `sam local invoke` of every event against the local stack (`make sam-local`).

They need `sam build` (.aws-sam/build), a Docker engine with the Lambda base image
(scripts/docker-engine.sh, scripts/standin-image.sh) and the SAM CLI in .venv-sam; a missing
piece fails the tests that need it, with what to run, rather than skipping them. The stack is
started once per session on free ports, listening on docker0 too, where the containers reach it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.launcher import ROOT, ReadyStack, stack_ports, started_stack
from scripts.sam_local import (
    DUMMY_CREDENTIALS,
    FUNCTIONS,
    attach,
    aws_clients,
    function_overrides,
    invoke,
    invoke_command,
    plan_template,
    read_default_token,
    sam_environment,
    write_env_vars,
)
from tests.sam_local.expectations import EVENTS, JOB_ID, SamLocal, ended_job
from vectorizer.api.ownership import caller_identity

SAM = ROOT / ".venv-sam" / "bin" / "sam"
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
WORK_DIR = ROOT / ".aws-sam" / "sam-local"  # env-vars file, the stack's log, each invoke's logs
STACK_TIMEOUT = 600  # seconds for the stack's `ready` (the model's first load on a busy machine)
INVOKE_TIMEOUT = 420  # seconds for one `sam local invoke` (a vfs container copy included)


@pytest.fixture(scope="session")
def built_template() -> Path:
    if not SAM.exists():
        pytest.fail(f"{SAM} is missing: `make sam-local` installs the SAM CLI")
    if not BUILT_TEMPLATE.exists():
        pytest.fail(f"{BUILT_TEMPLATE} is missing: run `sam build` (`make build`) first")
    return BUILT_TEMPLATE


@pytest.fixture(scope="session")
def sam_stack() -> Iterator[ReadyStack]:
    """The local stack on free ports and on docker0, with the real model (HF_API_BASE_URL emptied)."""
    env = {**DUMMY_CREDENTIALS, **stack_ports(), "HF_API_BASE_URL": "", "PYTHONUNBUFFERED": "1"}
    with started_stack(env=env, bridge=True, log_path=WORK_DIR / "stack.log", ready_timeout=STACK_TIMEOUT) as ready:
        if ready.bridge is None:
            pytest.fail("the local stack does not listen on the docker bridge: no docker0, is the engine running? "
                        "(scripts/docker-engine.sh start)")
        yield ready


@pytest.fixture(scope="session")
def sam_local(sam_stack: ReadyStack) -> Iterator[SamLocal]:
    """The stack, the containers' environment per function, moto clients and an HTTP client on the API."""
    aws = aws_clients(sam_stack.moto)
    deployed = attach(aws)
    token = read_default_token(deployed, aws)
    env = {function: function_overrides(deployed, function, sam_stack, token) for function in FUNCTIONS}
    with httpx.Client(base_url=sam_stack.api, timeout=60) as api:
        yield SamLocal(ready=sam_stack, env=env, aws=aws, api=api)


@pytest.fixture(scope="session")
def invoke_event(built_template: Path, sam_local: SamLocal) -> Callable[[str, str], Any]:
    """`invoke_event(function, event_name)`: `sam local invoke` of events/<event_name>, the function's answer."""
    env_vars = write_env_vars(WORK_DIR / "env-vars.json", sam_local.env)
    template = plan_template(built_template)
    sam_env = sam_environment(os.environ)

    def run(function: str, event: str) -> Any:
        command = invoke_command(SAM, function, EVENTS / event, template, env_vars)
        return invoke(command, env=sam_env, log_dir=WORK_DIR, name=event, timeout=INVOKE_TIMEOUT).answer

    return run


@pytest.fixture(scope="session")
def sam_local_job(sam_local: SamLocal) -> str:
    """Job `sam-local-job-1` finished: worker-chunk.json's message sent to the work queue, for the
    local stack's worker to take. A chunk seen before (worker-chunk.json ran first) is a redelivery
    and changes nothing, so the order of the tests does not matter."""
    event = json.loads((EVENTS / "worker-chunk.json").read_text())
    sqs = sam_local.aws("sqs")
    for record in event["Records"]:
        sqs.send_message(QueueUrl=sam_local.ready.queue, MessageBody=record["body"])
    # The API reports a job to its owner only, and a job a producer queued has none: once it has
    # ended, adopt it for the identity the GET /jobs events carry (their API key id).
    assert ended_job(sam_local, JOB_ID).status == "succeeded"
    dynamodb, table = sam_local.aws("dynamodb"), sam_local.env["ApiFunction"]["JOBS_TABLE"]
    key = {"jobId": {"S": JOB_ID}, "sk": {"S": "job"}}
    get_job = json.loads((EVENTS / "api-get-job.json").read_text())
    owner = caller_identity(get_job["requestContext"])
    dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET #o = :owner",
                         ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":owner": {"S": owner}})
    return JOB_ID
