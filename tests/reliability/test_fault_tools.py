"""The fault tools of the reliability run: the fake endpoint's fault modes and the AWS fault hooks."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.faults import FaultInjector, FaultPlan, FaultRule, write_plan
from tests.fakes.fake_hf_server import FakeHuggingFace, Faults, expected_vector

URL = "/models/fake/model/pipeline/feature-extraction"
TEXTS = ["one", "two", "three"]


def _post(fake: FakeHuggingFace, texts: list[str] = TEXTS) -> httpx.Response:
    return httpx.post(fake.base_url + URL, json={"inputs": texts}, timeout=5)


def test_a_scaled_to_zero_endpoint_answers_503_loading_with_the_seconds_left_then_serves() -> None:
    with FakeHuggingFace(Faults(cold_start_seconds=0.6)) as fake:
        first = _post(fake)
        assert first.status_code == 503
        assert 0 < first.json()["estimated_time"] <= 0.6
        time.sleep(0.7)
        assert _post(fake).json() == [expected_vector(t) for t in TEXTS]
        assert fake.observed.statuses == {503: 1, 200: 1}


@pytest.mark.parametrize(("faults", "check"), [
    (Faults(malformed_rate=1.0), lambda r: r.status_code == 200 and r.content == b"[[0.1, 0.2], [0.3"),
    (Faults(wrong_count_rate=1.0), lambda r: r.json() == [expected_vector(t) for t in TEXTS[:-1]]),
    (Faults(ragged_rate=1.0), lambda r: [len(v) for v in r.json()] == [8, 8, 9]),
], ids=["malformed", "wrong-count", "ragged"])
def test_a_broken_answer_is_a_200_the_client_must_not_trust(faults: Faults, check) -> None:
    with FakeHuggingFace(faults) as fake:
        assert check(_post(fake))


def test_a_reset_connection_gives_the_client_no_answer_and_is_logged_as_599() -> None:
    with FakeHuggingFace(Faults(reset_rate=1.0)) as fake:
        with pytest.raises(httpx.TransportError):
            _post(fake)
        assert [entry.status for entry in fake.observed.log] == [599]


def test_the_same_inputs_sent_again_count_as_a_retry_and_reconfigure_starts_a_fresh_count() -> None:
    with FakeHuggingFace() as fake:
        _post(fake), _post(fake), _post(fake, ["other"])
        assert (len(fake.observed.log), fake.observed.retries) == (3, 1)
        fake.reconfigure(Faults(loading_rate=1.0))
        assert _post(fake).status_code == 503
        assert (len(fake.observed.log), fake.observed.retries) == (1, 0)


def _plan(path: Path, **rule: object) -> None:
    write_plan(path, FaultPlan(generation="g1", rules=[FaultRule.model_validate(
        {"name": "r", "operation": "dynamodb.PutItem", "action": "error", **rule})]))


def test_a_budget_is_shared_by_every_process_and_after_lets_the_first_calls_through(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    _plan(path, after=1, budget=1)
    first, second = FaultInjector(path, "WorkerFunction"), FaultInjector(path, "ApiFunction")
    fired = [first.choose("dynamodb.PutItem", b""), first.choose("dynamodb.PutItem", b""),
             second.choose("dynamodb.PutItem", b""), second.choose("dynamodb.PutItem", b"")]
    assert [rule is not None for rule in fired] == [False, True, False, False]


def test_an_injected_error_reaches_the_caller_as_the_aws_error_it_names(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    _plan(path, code="ThrottlingException", status=400, message="slow down")
    client = boto3.client("dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x",
                          config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    client.meta.events.register("before-send", FaultInjector(path, "*").before_send)
    with pytest.raises(ClientError) as raised:
        client.put_item(TableName="t", Item={"k": {"S": "v"}})
    error = raised.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ThrottlingException", "slow down")
