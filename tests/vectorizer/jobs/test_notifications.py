"""A job's end is published once, with its exact detail, and never at the job's expense."""

from __future__ import annotations

import inspect
import json
import logging
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fakes.in_memory import FakeDefaultToken, InMemoryServices, RecordingEvents
from vectorizer.config import ModuleConfig
from vectorizer.errors import HuggingFaceError, VectorizerError
from vectorizer.jobs import ports
from vectorizer.jobs.message import ChunkItem, ChunkMessage
from vectorizer.jobs.notifications import (
    JOB_ENDED,
    EventBridgeEvents,
    PublishError,
    notify_job_ended,
)
from vectorizer.jobs.service import process_chunk, submit_job
from vectorizer.settings import Settings

MODEL = "org/model"
TOKEN = "hf_callerTOKENforNoticeTests0000"


@pytest.fixture
def deps() -> InMemoryServices:
    return InMemoryServices(settings=Settings(CHUNK_SIZE=2), default_token=FakeDefaultToken("hf_default000000"))


def submit(deps: InMemoryServices, texts: list[str], **extra: Any) -> list[ChunkMessage]:
    submit_job(
        deps, config=ModuleConfig(model=MODEL), purpose="passage", texts=texts, ids=None, token=TOKEN,
        token_is_callers=True, model=MODEL, owner="key-abc", **extra,
    )
    return [ChunkMessage.model_validate_json(body) for body in deps.queue.sent]


def work(deps: InMemoryServices, message: ChunkMessage, *, final_attempt: bool = False) -> Any:
    return process_chunk(deps, message, final_attempt=final_attempt, deadline=time.monotonic() + 30)


def details(deps: InMemoryServices) -> list[dict[str, Any]]:
    assert all(detail_type == JOB_ENDED for detail_type, _ in deps.events.published)
    return [json.loads(detail) for _, detail in deps.events.published]


def test_a_job_publishes_its_end_once_with_the_exact_detail_after_its_last_chunk(deps: InMemoryServices) -> None:
    first, second = submit(deps, ["a", "bb", "ccc"])
    work(deps, first)
    assert deps.events.published == []  # not ended yet
    work(deps, second)
    job = deps.jobs.records[first.job_id]
    assert details(deps) == [{
        "jobId": first.job_id, "status": "succeeded", "total": 3, "succeeded": 3, "failed": 0,
        "owner": "key-abc", "model": MODEL, "dimensions": 3, "failureReason": None, "endedAt": job.updated_at,
    }]
    work(deps, second)  # a redelivery after the end
    assert len(deps.events.published) == 1


def test_a_job_whose_items_all_failed_publishes_failed(deps: InMemoryServices) -> None:
    [only] = submit(deps, ["a"])
    deps.hf.fail_all = HuggingFaceError("input refused", status=400)
    work(deps, only)
    [detail] = details(deps)
    assert (detail["status"], detail["succeeded"], detail["failed"], detail["dimensions"]) == ("failed", 0, 1, None)


def test_a_failing_publish_is_logged_and_the_chunk_still_counts(
    deps: InMemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    deps.events.failure = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")
    [only] = submit(deps, ["a", "bb"])
    with caplog.at_level(logging.ERROR, logger="vectorizer.jobs.notifications"):
        report = work(deps, only)
    assert (report.succeeded, report.job_status) == (2, "succeeded")
    assert deps.jobs.records[only.job_id].status == "succeeded"
    assert [r.getMessage() for r in caplog.records] == [
        f"could not publish the end of job {only.job_id}: ThrottlingException"
    ]


def test_a_job_whose_chunks_could_not_be_queued_publishes_its_failure(deps: InMemoryServices) -> None:
    deps.queue.accept = 0
    with pytest.raises(VectorizerError) as refused:
        submit(deps, ["a"])
    [detail] = details(deps)
    assert refused.value.code == "queue_unavailable"
    assert (detail["status"], detail["total"], detail["succeeded"], detail["failed"]) == ("failed", 1, 0, 0)
    assert detail["failureReason"].startswith("the work queue could not be reached")


def test_an_open_ended_producer_job_never_publishes(deps: InMemoryServices) -> None:
    message = ChunkMessage(job_id="ext-1", chunk=0, config=ModuleConfig(model=MODEL),
                           items=[ChunkItem(index=0, id=None, text="a")])
    work(deps, message)
    assert deps.jobs.records["ext-1"].status == "succeeded"
    assert deps.events.published == []


def test_a_callback_url_is_kept_in_the_record_but_not_in_the_event(deps: InMemoryServices) -> None:
    deps = InMemoryServices(settings=Settings(CHUNK_SIZE=2, CALLBACK_ALLOWED_HOSTS="hooks.example.com"))
    [only] = submit(deps, ["a"], callback_url="https://hooks.example.com/done?key=s3cret")
    work(deps, only)
    assert deps.jobs.records[only.job_id].callback_url == "https://hooks.example.com/done?key=s3cret"
    assert "s3cret" not in deps.events.published[0][1]
    assert deps.jobs.get(only.job_id, max_errors=0).callback_url is not None  # the notifier reads it


@pytest.mark.parametrize(("url", "status", "code"), [
    ("https://elsewhere.example.com/hook", 403, "callback_not_allowed"),
    ("http://hooks.example.com/hook", 403, "callback_not_allowed"),
    ("https://user:pw@hooks.example.com/hook", 403, "callback_not_allowed"),
    ("not a url", 400, "invalid_config"),
])
def test_a_callback_url_off_the_allow_list_is_refused_before_anything_is_recorded(
    url: str, status: int, code: str
) -> None:
    deps = InMemoryServices(settings=Settings(CALLBACK_ALLOWED_HOSTS="hooks.example.com"))
    with pytest.raises(VectorizerError) as refused:
        submit(deps, ["a"], callback_url=url)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert deps.jobs.records == {} and deps.queue.sent == []


def test_without_an_allow_list_every_callback_url_is_refused_naming_the_setting(deps: InMemoryServices) -> None:
    with pytest.raises(VectorizerError) as refused:
        submit(deps, ["a"], callback_url="https://hooks.example.com/hook")
    assert refused.value.message == (
        "'callbackUrl' host 'hooks.example.com' over https is not allowed; allowed: none "
        "(CALLBACK_ALLOWED_HOSTS is empty) (https only unless a scheme is given)"
    )


class StubEvents:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def put_events(self, **call: Any) -> dict[str, Any]:
        self.calls.append(call)
        return self.answer


def test_the_event_goes_to_the_configured_bus_with_source_vectorizer() -> None:
    client = StubEvents({"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]})
    EventBridgeEvents(client, "stack-jobs").publish(JOB_ENDED, '{"jobId":"j"}')
    assert client.calls == [{"Entries": [{
        "Source": "vectorizer", "DetailType": "Vectorizer Job Ended", "Detail": '{"jobId":"j"}',
        "EventBusName": "stack-jobs",
    }]}]


def test_an_entry_eventbridge_reports_failed_is_a_failed_publish_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = StubEvents({"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "oops"}]})
    with pytest.raises(PublishError, match=r"^InternalFailure: oops$"):
        EventBridgeEvents(client, "bus").publish(JOB_ENDED, "{}")
    deps = InMemoryServices(events=RecordingEvents(failure=PublishError("InternalFailure: oops")))
    [only] = submit(deps, ["a"])
    work(deps, only)
    job = deps.jobs.records[only.job_id]
    with caplog.at_level(logging.ERROR):
        assert notify_job_ended(deps, job) is False
    assert f"could not publish the end of job {only.job_id}: InternalFailure: oops" in caplog.messages


def test_the_deployed_publisher_and_the_fake_offer_the_port_method() -> None:
    expected = [(p.name, p.kind) for p in inspect.signature(ports.EventPublisherPort.publish).parameters.values()]
    for cls in (EventBridgeEvents, RecordingEvents):
        assert [(p.name, p.kind) for p in inspect.signature(cls.publish).parameters.values()] == expected
