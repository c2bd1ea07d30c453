"""The sam-local plumbing (scripts/sam_local.py) and the bookkeeping of events, without Docker.

Not marked `sam_local`: these run in `make test` and `make unit`, so a new event file without an
expected answer is caught there too, before anyone starts Docker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from local.template_stack import load_template
from scripts.sam_local import (
    DUMMY_CREDENTIALS,
    InvokeFailed,
    container_url,
    function_answer,
    invoke,
    invoke_command,
    plan_template,
    sam_environment,
)
from tests.sam_local.expectations import EXPECTATIONS, event_names, missing_expectation, proxy_answer


def test_every_event_file_has_an_expectation_and_every_expectation_its_file() -> None:
    assert sorted(EXPECTATIONS) == event_names()
    assert [event for event in event_names() if missing_expectation(event)] == []


def test_an_event_without_an_expectation_is_reported_by_name() -> None:
    assert missing_expectation("api-new-route.json") == (
        "events/api-new-route.json has no expected answer: add one to tests/sam_local/expectations.py "
        "(EXPECTATIONS) and document it in events/README.md")


def test_every_expectation_names_a_function_of_the_template() -> None:
    template = load_template()
    functions = {name for name, resource in template["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"}
    assert {expectation.function for expectation in EXPECTATIONS.values()} == functions
    assert functions == {"ApiFunction", "WorkerFunction", "AuthorizerFunction", "DeadLetterFunction",
                         "NotifierFunction", "SweeperFunction", "SplitterFunction"}


@pytest.mark.parametrize("url, seen_from_a_container", [
    ("http://127.0.0.1:5000", "http://host.docker.internal:5000"),
    ("http://localhost:8088/models", "http://host.docker.internal:8088/models"),
    ("http://127.0.0.1:5000/123456789012/work-queue", "http://host.docker.internal:5000/123456789012/work-queue"),
    ("https://router.huggingface.co/hf-inference", "https://router.huggingface.co/hf-inference"),
])
def test_loopback_urls_become_the_docker_host_and_others_stay(url: str, seen_from_a_container: str) -> None:
    assert container_url(url) == seen_from_a_container


def test_the_answer_is_the_whole_stdout_or_its_last_json_line() -> None:
    assert function_answer('{"statusCode": 200}\n') == {"statusCode": 200}
    assert function_answer('START RequestId: 1\n{"a": 1}\nnot json\n{"batchItemFailures": []}\n') == {
        "batchItemFailures": []}
    with pytest.raises(InvokeFailed, match="no JSON answer on stdout"):
        function_answer("Invoking app.handler\nEND RequestId: 1\n")


def test_a_proxy_answer_gives_status_lower_case_headers_and_the_decoded_body() -> None:
    answer = {"statusCode": 202, "headers": {"Location": "/jobs/j"}, "multiValueHeaders": {"X-A": ["1", "2"]},
              "body": json.dumps({"jobId": "j"})}
    assert proxy_answer(answer) == (202, {"location": "/jobs/j", "x-a": "2"}, {"jobId": "j"})


def test_the_sam_environment_has_dummy_credentials_and_no_real_profile() -> None:
    env = sam_environment({"AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "secret", "AWS_ACCESS_KEY_ID": "AKIAREAL",
                           "PATH": "/bin"})
    assert env == {"PATH": "/bin", **DUMMY_CREDENTIALS, "SAM_CLI_TELEMETRY": "0", "PYTHONUNBUFFERED": "1"}


def test_the_invoke_command_uses_the_image_as_it_is_and_reaches_the_host() -> None:
    assert invoke_command(Path("/s/sam"), "ApiFunction", Path("/e/api-health.json"), Path("/b/template.yaml"),
                          Path("/w/env-vars.json")) == [
        "/s/sam", "local", "invoke", "ApiFunction", "-e", "/e/api-health.json", "--skip-pull-image",
        "--add-host", "host.docker.internal:host-gateway", "--env-vars", "/w/env-vars.json",
        "--template", "/b/template.yaml"]


TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Environment:
      Variables:
        JOBS_TABLE: !Ref JobsTable
Resources:
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          {api_extra}
  WorkerFunction:
    Type: AWS::Serverless::Function
"""


def test_a_template_missing_a_needed_variable_is_invoked_as_a_copy_that_declares_it(tmp_path: Path) -> None:
    built = tmp_path / "template.yaml"
    built.write_text(TEMPLATE.format(api_extra="HF_API_BASE_URL: x"))
    planned = plan_template(built)
    assert planned == tmp_path / "template.sam-local.json"
    variables = json.loads(planned.read_text())["Globals"]["Function"]["Environment"]["Variables"]
    assert variables == {"JOBS_TABLE": {"Ref": "JobsTable"}, "AWS_ENDPOINT_URL": "", "HF_API_BASE_URL": ""}


def test_a_template_declaring_every_needed_variable_is_invoked_as_it_is(tmp_path: Path) -> None:
    built = tmp_path / "template.yaml"
    built.write_text(TEMPLATE.replace("JOBS_TABLE: !Ref JobsTable", "AWS_ENDPOINT_URL: ''\n        HF_API_BASE_URL: ''")
                     .format(api_extra="OTHER: x"))
    assert plan_template(built) == built
    assert not (tmp_path / "template.sam-local.json").exists()


def fake_sam(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_an_invoke_returns_the_answer_and_keeps_both_logs(tmp_path: Path) -> None:
    done = invoke(fake_sam("import sys; print('log', file=sys.stderr); print('{\"statusCode\": 200}')"),
                  env={}, log_dir=tmp_path, name="api-health.json", timeout=60)
    assert done.answer == {"statusCode": 200}
    assert (tmp_path / "api-health.json.stderr.log").read_text() == "log\n"
    assert (tmp_path / "api-health.json.stdout.log").read_text() == '{"statusCode": 200}\n'


@pytest.mark.parametrize("code, message", [
    ("import sys; print('no image', file=sys.stderr); sys.exit(1)", "sam exited 1: no image"),
    ("print('{\"errorType\": \"KeyError\", \"errorMessage\": \"x\"}')",
     'the function failed: {"errorType": "KeyError"'),
    ("import time; time.sleep(30)", "sam local invoke timed out after 1 s"),
])
def test_an_invoke_that_gives_no_function_answer_fails_with_why(tmp_path: Path, code: str, message: str) -> None:
    with pytest.raises(InvokeFailed) as failed:
        invoke(fake_sam(code), env={}, log_dir=tmp_path, name="e.json", timeout=1 if "sleep" in code else 60)
    assert str(failed.value).startswith(message)

