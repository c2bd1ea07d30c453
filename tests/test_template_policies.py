"""Least privilege, read from `template.yaml` itself (and from SAM's transform of it, when the SAM CLI is here).

Each function runs under a role written out in the template, so SAM adds nothing to it: its SQS
event would otherwise attach AWSLambdaSQSQueueExecutionRole (receive and delete on every queue of
the account), and its DynamoDB policy templates grant Scan. The KMS key lets the API encrypt and
the worker alone decrypt.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.template_stack import load_template

ROOT = Path(__file__).resolve().parent.parent
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {"ApiFunction": "ApiRole", "WorkerFunction": "WorkerRole", "AuthorizerFunction": "AuthorizerRole",
             "DeadLetterFunction": "DeadLetterRole", "NotifierFunction": "NotifierRole",
             "SweeperFunction": "SweeperRole", "SplitterFunction": "SplitterRole"}
KEYED_PATHS = {"/vectorize": "post", "/jobs": "post", "/jobs/{jobId}": "get", "/jobs/{jobId}/vectors": "get",
               "/": "post",
               "/models/{model+}": "post", "/pipeline/feature-extraction/{model+}": "post", "/embed": "post",
               "/v1/embeddings": "post"}


def _branches(value: Any) -> list[Any]:
    """Both branches of an Fn::If (less AWS::NoValue), else the value itself."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        return [b for branch in value["Fn::If"][1:] for b in _branches(branch) if b != {"Ref": "AWS::NoValue"}]
    return [value]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(role: str) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies, with a conditional one counted either way."""
    found = []
    for policy in RESOURCES[role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            found.extend(_branches(statement))
    return found


def grants(role: str, service: str) -> dict[str, list[Any]]:
    """Action -> the resources it is allowed on, for one service's actions in a role."""
    allowed: dict[str, list[Any]] = {}
    for statement in statements(role):
        assert statement["Effect"] == "Allow"
        for action in _listed(statement["Action"]):
            if action.startswith(f"{service}:"):
                allowed.setdefault(action, []).extend(_listed(statement["Resource"]))
    return allowed


@pytest.mark.parametrize(("function", "role"), FUNCTIONS.items())
def test_each_function_runs_under_its_own_written_out_role_that_sam_cannot_widen(function: str, role: str) -> None:
    properties = RESOURCES[function]["Properties"]
    assert properties["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert "Policies" not in properties
    assert RESOURCES[role]["Type"] == "AWS::IAM::Role"
    assert "ManagedPolicyArns" not in RESOURCES[role]["Properties"]
    assert "Role" not in TEMPLATE.get("Globals", {}).get("Function", {})


@pytest.mark.parametrize("role", FUNCTIONS.values())
def test_no_role_has_a_wildcard_action_or_a_wildcard_resource_but_for_x_ray(role: str) -> None:
    for statement in statements(role):
        actions = _listed(statement["Action"])
        assert not any("*" in action for action in actions), statement
        if statement["Resource"] == "*":
            assert set(actions) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, statement


def test_the_worker_consumes_only_the_work_queue_and_parks_only_on_the_dead_letter_queue() -> None:
    assert grants("WorkerRole", "sqs") == {
        "sqs:ReceiveMessage": [{"Fn::GetAtt": ["WorkQueue", "Arn"]}],
        "sqs:DeleteMessage": [{"Fn::GetAtt": ["WorkQueue", "Arn"]}],
        "sqs:GetQueueAttributes": [{"Fn::GetAtt": ["WorkQueue", "Arn"]}],
        "sqs:SendMessage": [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}],
    }


def test_the_api_only_sends_to_the_work_queue_and_the_split_queue() -> None:
    assert grants("ApiRole", "sqs") == {"sqs:SendMessage": [{"Fn::GetAtt": ["WorkQueue", "Arn"]},
                                                            {"Fn::GetAtt": ["SplitQueue", "Arn"]}]}


def test_the_api_reads_tables_by_key_and_query_never_by_scan() -> None:
    jobs, vectors = {"Fn::GetAtt": ["JobsTable", "Arn"]}, {"Fn::GetAtt": ["VectorsTable", "Arn"]}
    idempotency, cache = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}, {"Fn::GetAtt": ["CacheTable", "Arn"]}
    assert grants("ApiRole", "dynamodb") == {
        "dynamodb:GetItem": [jobs, vectors, cache, idempotency], "dynamodb:Query": [jobs, vectors],
        "dynamodb:PutItem": [jobs, idempotency], "dynamodb:UpdateItem": [jobs, idempotency],
        "dynamodb:DeleteItem": [idempotency],
        "dynamodb:BatchGetItem": [cache], "dynamodb:BatchWriteItem": [cache],
    }


def test_the_sweeper_queries_only_the_open_jobs_index_and_updates_only_job_records() -> None:
    assert grants("SweeperRole", "dynamodb") == {
        "dynamodb:Query": [{"Fn::Sub": "${JobsTable.Arn}/index/OpenJobs"}],
        "dynamodb:UpdateItem": [{"Fn::GetAtt": ["JobsTable", "Arn"]}],
        "dynamodb:GetItem": [{"Fn::GetAtt": ["JobsTable", "Arn"]}],
    }
    assert grants("SweeperRole", "events") == {"events:PutEvents": [{"Fn::GetAtt": ["JobEventBus", "Arn"]}]}
    services = {action.split(":")[0] for s in statements("SweeperRole") for action in _listed(s["Action"])}
    assert services == {"logs", "xray", "dynamodb", "events"}


def test_the_worker_writes_vectors_and_job_records_and_never_scans() -> None:
    jobs, vectors = {"Fn::GetAtt": ["JobsTable", "Arn"]}, {"Fn::GetAtt": ["VectorsTable", "Arn"]}
    cache = {"Fn::GetAtt": ["CacheTable", "Arn"]}
    assert grants("WorkerRole", "dynamodb") == {
        "dynamodb:GetItem": [jobs, cache], "dynamodb:Query": [jobs], "dynamodb:PutItem": [jobs, vectors],
        "dynamodb:UpdateItem": [jobs], "dynamodb:BatchWriteItem": [jobs, vectors, cache],
        "dynamodb:BatchGetItem": [vectors, cache],
    }


def test_the_dead_letter_consumer_consumes_only_the_dead_letter_queue_and_parks_only_on_the_parked_queue() -> None:
    assert grants("DeadLetterRole", "sqs") == {
        "sqs:ReceiveMessage": [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}],
        "sqs:DeleteMessage": [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}],
        "sqs:GetQueueAttributes": [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}],
        "sqs:SendMessage": [{"Fn::GetAtt": ["ParkedChunksQueue", "Arn"]}],
    }


def test_the_authorizer_touches_no_data() -> None:
    services = {action.split(":")[0] for s in statements("AuthorizerRole") for action in _listed(s["Action"])}
    assert services == {"logs", "xray"}


def _key_policy_grants() -> dict[str, list[Any]]:
    """KMS action -> the principals the key policy allows it to."""
    allowed: dict[str, list[Any]] = {}
    for statement in RESOURCES["TokenKey"]["Properties"]["KeyPolicy"]["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in _listed(statement["Action"]):
            allowed.setdefault(action, []).append(statement["Principal"]["AWS"])
    return allowed


def test_only_the_worker_may_decrypt_and_only_the_api_encrypt_with_the_token_key() -> None:
    allowed = _key_policy_grants()
    assert allowed["kms:Decrypt"] == [{"Fn::GetAtt": ["WorkerRole", "Arn"]}]
    assert allowed["kms:Encrypt"] == [{"Fn::GetAtt": ["ApiRole", "Arn"]}]
    # The account administers the key but no wildcard lets an IAM policy grant its use.
    crypto = ("kms:*", "kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*")
    root = [a for a, principals in allowed.items() if any("root" in json.dumps(p) for p in principals)]
    assert root and not set(root) & set(crypto)
    for role in FUNCTIONS.values():
        assert grants(role, "kms") == {}


def test_the_token_key_opens_only_under_this_stacks_encryption_context() -> None:
    # A sealed token lifted from the dead-letter queue cannot be opened for another stack or use.
    statements = TEMPLATE["Resources"]["TokenKey"]["Properties"]["KeyPolicy"]["Statement"]
    crypto = [s for s in statements if s["Action"] in ("kms:Encrypt", "kms:Decrypt")]
    assert len(crypto) == 2
    for statement in crypto:
        assert statement["Condition"] == {"StringEquals": {
            "kms:EncryptionContext:stack": {"Ref": "AWS::StackName"},
            "kms:EncryptionContext:purpose": "hf-token",
        }}


def test_functions_get_the_stack_name_and_the_default_token_hosts() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["STACK_NAME"] == {"Ref": "AWS::StackName"}
    assert env["DEFAULT_TOKEN_HOSTS"] == {"Ref": "DefaultTokenHosts"}
    assert TEMPLATE["Parameters"]["DefaultTokenHosts"]["Default"] == ""


def test_the_api_and_its_authorizer_have_reserved_concurrency() -> None:
    for function in ("ApiFunction", "AuthorizerFunction"):
        assert RESOURCES[function]["Properties"]["ReservedConcurrentExecutions"] == {"Ref": "ApiReservedConcurrency"}
    assert TEMPLATE["Parameters"]["ApiReservedConcurrency"]["MinValue"] >= 1


def test_keyed_routes_want_the_key_from_the_authorizer_only_when_keys_are_required() -> None:
    body = RESOURCES["VectorizerApi"]["Properties"]["DefinitionBody"]
    for path, method in KEYED_PATHS.items():
        assert body["paths"][path][method]["security"] == {
            "Fn::If": ["ApiKeyIsRequired", [{"api_key": [], "ApiKeyAuthorizer": []}], []]}
    assert "/health" not in body["paths"]
    assert RESOURCES["VectorizerApi"]["Properties"]["ApiKeySourceType"] == {
        "Fn::If": ["ApiKeyIsRequired", "AUTHORIZER", "HEADER"]}
    authorizer = body["components"]["securitySchemes"]["ApiKeyAuthorizer"]["x-amazon-apigateway-authorizer"]
    # No caching, so no identity source: a source absent for some callers would make API Gateway
    # refuse them with 401 before the authorizer runs.
    assert authorizer["type"] == "request"
    assert authorizer["authorizerResultTtlInSeconds"] == 0
    assert "identitySource" not in authorizer


TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {name: "arn:aws:iam::aws:policy/service-role/" + name for name in (
            "AWSLambdaSQSQueueExecutionRole", "AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess")}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    for name in ("CodeUri", "ContentUri"):
        if name in resource.get("Properties", {}):
            resource["Properties"][name] = "s3://bucket/" + resource["Properties"][name].strip("/")
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)
"""


@pytest.mark.skipif(not SAM_PYTHON.exists(), reason="the SAM CLI's virtualenv (.venv-sam) is not installed")
def test_sams_transform_adds_no_role_and_no_managed_policy() -> None:
    out = subprocess.run([str(SAM_PYTHON), "-c", TRANSFORM, str(ROOT / "template.yaml")], capture_output=True,
                         text=True, check=True, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    resources = json.loads(out.stdout)["Resources"]
    roles = {name for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert roles == set(FUNCTIONS.values())
    for role in roles:
        assert "ManagedPolicyArns" not in resources[role]["Properties"]
    assert not any(r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") for r in resources.values())
    mappings = {r["Properties"]["FunctionName"]["Ref"]: r["Properties"]["EventSourceArn"]
                for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"}
    assert mappings == {"WorkerFunction": {"Fn::GetAtt": ["WorkQueue", "Arn"]},
                        "DeadLetterFunction": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                        "SplitterFunction": {"Fn::GetAtt": ["SplitQueue", "Arn"]}}
    assert resources["WorkerFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["WorkerRole", "Arn"]}


# ---------------------------------------------------------------- file jobs

UPLOADS, OUTPUTS = {"Fn::Sub": "${FilesBucket.Arn}/uploads/*"}, {"Fn::Sub": "${FilesBucket.Arn}/jobs/*"}
# The bucket's name, spelled the same way in the bucket and in the split queue's policy.
STACK_ID_UUID = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
STACK_SUFFIX = {"Fn::Select": [4, {"Fn::Split": ["-", STACK_ID_UUID]}]}


def test_the_files_bucket_is_private_owner_enforced_and_encrypted() -> None:
    properties = RESOURCES["FilesBucket"]["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert properties["BucketEncryption"] == {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    assert properties["BucketName"] == {"Fn::Sub": [
        "vectorizer-files-${AWS::AccountId}-${StackSuffix}", {"StackSuffix": STACK_SUFFIX}]}


def test_uploads_and_outputs_expire_with_the_jobs_and_broken_uploads_after_a_day() -> None:
    written = RESOURCES["FilesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    rules = {rule["Id"]: {k: v for k, v in rule.items() if k != "Id"} for rule in written}
    assert rules == {
        "ExpireUploads": {"Status": "Enabled", "Prefix": "uploads/", "ExpirationInDays": {"Ref": "JobTtlDays"}},
        "ExpireJobOutputs": {"Status": "Enabled", "Prefix": "jobs/", "ExpirationInDays": {"Ref": "JobTtlDays"}},
        "AbortIncompleteMultipartUploads": {
            "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    }


def test_the_files_bucket_refuses_every_request_without_tls() -> None:
    policy = RESOURCES["FilesBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "FilesBucket"}
    assert policy["PolicyDocument"]["Statement"] == [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [{"Fn::GetAtt": ["FilesBucket", "Arn"]}, {"Fn::Sub": "${FilesBucket.Arn}/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": False}},
    }]


def test_browsers_may_only_put_to_the_files_bucket_across_origins() -> None:
    rules = RESOURCES["FilesBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert [rule["AllowedMethods"] for rule in rules] == [["PUT"]]


def test_every_upload_under_uploads_notifies_the_split_queue() -> None:
    notification = RESOURCES["FilesBucket"]["Properties"]["NotificationConfiguration"]
    assert notification == {"QueueConfigurations": [{
        "Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": ["SplitQueue", "Arn"]},
        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}},
    }]}
    # The queue must let S3 in before CloudFormation sets the notification (it sends a test event).
    assert RESOURCES["FilesBucket"]["DependsOn"] == "SplitQueuePolicy"


def test_only_this_stacks_bucket_in_this_account_may_send_to_the_split_queue() -> None:
    policy = RESOURCES["SplitQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "SplitQueue"}]
    assert policy["PolicyDocument"]["Statement"] == [{
        "Sid": "UploadsOfThisStacksBucket", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["SplitQueue", "Arn"]},
        "Condition": {
            "ArnEquals": {"aws:SourceArn": {"Fn::Sub": [
                "arn:${AWS::Partition}:s3:::vectorizer-files-${AWS::AccountId}-${StackSuffix}",
                {"StackSuffix": STACK_SUFFIX}]}},
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        },
    }]


def test_the_split_queue_redrives_to_its_own_dead_letter_queue_and_outlasts_six_splitter_timeouts() -> None:
    queue = RESOURCES["SplitQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["SplitDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": {"Ref": "MaxReceiveCount"}}
    assert queue["VisibilityTimeout"] >= 6 * RESOURCES["SplitterFunction"]["Properties"]["Timeout"]
    assert RESOURCES["SplitDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 1209600


def test_the_splitter_takes_one_message_at_a_time_for_up_to_fifteen_minutes() -> None:
    properties = RESOURCES["SplitterFunction"]["Properties"]
    assert (properties["Timeout"], properties["MemorySize"]) == (900, 512)
    assert properties["LoggingConfig"] == {"LogGroup": {"Ref": "SplitterLogGroup"}}
    (event,) = properties["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["SplitQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 1
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_splitter_reads_uploads_queues_chunks_and_continues_itself_only() -> None:
    split, work = {"Fn::GetAtt": ["SplitQueue", "Arn"]}, {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert grants("SplitterRole", "sqs") == {
        "sqs:ReceiveMessage": [split], "sqs:DeleteMessage": [split], "sqs:GetQueueAttributes": [split],
        "sqs:SendMessage": [work, split],
    }
    input_buckets = {"Fn::Split": [",", {"Fn::Sub": ["arn:aws:s3:::${Buckets}/*", {
        "Buckets": {"Fn::Join": ["/*,arn:aws:s3:::", {"Fn::Split": [",", {"Ref": "InputBuckets"}]}]}}]}]}
    assert grants("SplitterRole", "s3") == {"s3:GetObject": [UPLOADS, input_buckets]}
    conditional = [s for s in RESOURCES["SplitterRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                   if "Fn::If" in s]
    assert [s["Fn::If"][0] for s in conditional] == ["HasInputBuckets"]
    jobs = {"Fn::GetAtt": ["JobsTable", "Arn"]}
    assert grants("SplitterRole", "dynamodb") == {
        "dynamodb:GetItem": [jobs], "dynamodb:Query": [jobs], "dynamodb:PutItem": [jobs],
        "dynamodb:UpdateItem": [jobs], "dynamodb:BatchWriteItem": [jobs]}
    assert grants("SplitterRole", "events") == {"events:PutEvents": [{"Fn::GetAtt": ["JobEventBus", "Arn"]}]}


def test_the_api_presigns_uploads_and_output_links_only() -> None:
    assert grants("ApiRole", "s3") == {"s3:PutObject": [UPLOADS], "s3:GetObject": [OUTPUTS]}


def test_the_worker_writes_and_reads_shards_under_jobs_only() -> None:
    assert grants("WorkerRole", "s3") == {"s3:PutObject": [OUTPUTS], "s3:GetObject": [OUTPUTS]}


def test_the_notifier_lists_reads_and_writes_under_jobs_only() -> None:
    assert grants("NotifierRole", "s3") == {"s3:GetObject": [OUTPUTS], "s3:PutObject": [OUTPUTS],
                                            "s3:ListBucket": [{"Fn::GetAtt": ["FilesBucket", "Arn"]}]}
    (listing,) = [s for s in statements("NotifierRole") if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "jobs/*"}}


@pytest.mark.parametrize("role", ["SweeperRole", "DeadLetterRole", "AuthorizerRole"])
def test_functions_without_file_work_get_no_s3_rights(role: str) -> None:
    assert grants(role, "s3") == {}


def test_every_function_knows_the_files_bucket_and_the_split_queue() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["FILES_BUCKET"] == {"Ref": "FilesBucket"}
    assert env["SPLIT_QUEUE_URL"] == {"Ref": "SplitQueue"}
    assert env["FILE_CHUNK_SIZE"] == {"Ref": "FileChunkSize"}
    assert env["INPUT_BUCKETS"] == {"Ref": "InputBuckets"}
    assert TEMPLATE["Parameters"]["InputBuckets"]["Default"] == ""


def test_the_split_queues_and_the_splitter_have_alarms() -> None:
    watched = {}
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            (dimension,) = resource["Properties"]["Dimensions"]
            watched[name] = (resource["Properties"]["MetricName"], dimension["Value"])
    assert watched["SplitDeadLettersAlarm"] == (
        "ApproximateNumberOfMessagesVisible", {"Fn::GetAtt": ["SplitDeadLetterQueue", "QueueName"]})
    assert watched["SplitQueueAgeAlarm"] == (
        "ApproximateAgeOfOldestMessage", {"Fn::GetAtt": ["SplitQueue", "QueueName"]})
    assert watched["SplitterErrorsAlarm"] == ("Errors", {"Ref": "SplitterFunction"})
