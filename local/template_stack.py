"""The template's own stateful resources, deployed into embedded AWS, and the functions' environment.

moto's CloudFormation does not run the Serverless transform, so the tables, queues and keys of
`template.yaml` (plain `AWS::` resources) are deployed as a stack of their own, straight from the
template; then each function's `Environment` is read from the template and its intrinsics
(`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If`, ...) resolved against that stack. Local runs and tests
therefore use exactly the names, keys and settings that a deploy would, and cannot drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

from local.api_gateway import MethodAuth

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
SERVERLESS_PREFIX = "AWS::Serverless::"
# Types moto's CloudFormation cannot create (it records them without a name or id). Local runs
# need none: alarms only watch, the callbacks' signing key comes from the environment, and moto
# enforces no resource policy (the split queue's, the files bucket's).
MOTO_UNSUPPORTED = frozenset({"AWS::CloudWatch::Alarm", "AWS::SecretsManager::Secret", "AWS::SQS::QueuePolicy",
                              "AWS::S3::BucketPolicy"})
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    # cfn-lint's loader understands the short tags (!Ref, !GetAtt, !Sub, ...) and gives plain dicts.
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def _walk(value: Any):
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _get_atts(value: Any) -> set[tuple[str, str]]:
    found = set()
    for node in _walk(value):
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            resource, attribute = target.split(".", 1) if isinstance(target, str) else target
            found.add((resource, attribute))
        if isinstance(node, dict) and "Fn::Sub" in node:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                if "." in name:
                    resource, attribute = name.split(".", 1)
                    found.add((resource, attribute))
    return found


PSEUDO_PARAMETERS = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::StackId",
                     "AWS::URLSuffix", "AWS::NoValue", "AWS::NotificationARNs"}


def _names(value: Any) -> set[str]:
    """The logical names a template value refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub)."""
    found = {resource for resource, _ in _get_atts(value)}
    for node in _walk(value):
        if isinstance(node, dict) and isinstance(node.get("Ref"), str):
            found.add(node["Ref"])
        if isinstance(node, dict) and "Fn::Sub" in node:
            sub = node["Fn::Sub"]
            text, extra = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
            found.update(name for name in re.findall(r"\$\{([^}!.]+)\}", text) if name not in extra)
    return found


def _output_name(resource: str, attribute: str) -> str:
    return "Att" + re.sub(r"[^A-Za-z0-9]", "", f"{resource}{attribute}")


def function_environments(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's environment as written: Globals first, the function's own on top."""
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    envs = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
            envs[name] = {**global_env, **own}
    return envs


def _without_dependencies_on(resource: Mapping[str, Any], kept: set[str]) -> dict[str, Any]:
    """`resource` with its `DependsOn` limited to the resources in `kept` (dropped when none is)."""
    depends = resource.get("DependsOn")
    if depends is None:
        return dict(resource)
    remaining = [name for name in ([depends] if isinstance(depends, str) else depends) if name in kept]
    trimmed = {key: value for key, value in resource.items() if key != "DependsOn"}
    return {**trimmed, "DependsOn": remaining} if remaining else trimmed


def s3_notification_configuration(notification: Mapping[str, Any]) -> dict[str, Any]:
    """A bucket's `NotificationConfiguration` as CloudFormation spells it, in the shape of S3's
    PutBucketNotificationConfiguration (queue configurations only: the template has no other)."""
    queues = []
    for config in notification.get("QueueConfigurations", []):
        rules = config.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        entry: dict[str, Any] = {"QueueArn": config["Queue"], "Events": [config["Event"]]}
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
        queues.append(entry)
    return {"QueueConfigurations": queues}


def apply_bucket_notifications(stack: DeployedStack, s3_client: Any) -> list[str]:
    """Set each deployed bucket's notifications through the S3 API; returns the buckets' names.

    moto's CloudFormation creates a bucket but drops its `NotificationConfiguration`, while moto's
    S3 does deliver the notifications a bucket was given through the API (to SQS, in-process): so
    the template's configuration, resolved against the stack, is put the way the API would.
    """
    configured = []
    for name, resource in stack.template["Resources"].items():
        notification = resource.get("Properties", {}).get("NotificationConfiguration")
        if resource["Type"] != "AWS::S3::Bucket" or not notification or name not in stack.physical_ids:
            continue
        bucket = stack.physical_ids[name]
        s3_client.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=s3_notification_configuration(stack.resolve(notification)))
        configured.append(bucket)
    return configured


def stateful_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template minus the Serverless resources (and those moto cannot create), with an output
    for every attribute we read."""
    resources = {
        name: resource for name, resource in template["Resources"].items()
        if not resource["Type"].startswith(SERVERLESS_PREFIX) and resource["Type"] not in MOTO_UNSUPPORTED
    }
    # A plain resource that names a Serverless one (the authorizer's invoke permission) cannot be
    # created without it: leave it out too, and whatever names it in turn.
    while True:
        orphans = {name for name, resource in resources.items() if _names(resource) - set(resources)
                   - set(template.get("Parameters", {})) - PSEUDO_PARAMETERS}
        if not orphans:
            break
        resources = {name: resource for name, resource in resources.items() if name not in orphans}
    # A DependsOn on a resource left out (the bucket waits for the split queue's policy) goes too.
    resources = {name: _without_dependencies_on(resource, set(resources)) for name, resource in resources.items()}
    functions = [r.get("Properties", {}) for r in template["Resources"].values()
                 if r["Type"] == "AWS::Serverless::Function"]
    # Attributes read by the functions: their environment, their event sources (the queue ARN),
    # and a bucket's notification targets (set through the S3 API after the deploy).
    notifications = [r.get("Properties", {}).get("NotificationConfiguration", {}) for r in resources.values()]
    read = [function_environments(template), [f.get("Events", {}) for f in functions], notifications]
    wanted = {att for att in _get_atts(read) if att[0] in resources}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": template.get("Parameters", {}),
        "Conditions": template.get("Conditions", {}),
        "Resources": resources,
        "Outputs": {
            _output_name(resource, attribute): {"Value": {"Fn::GetAtt": [resource, attribute]}}
            for resource, attribute in sorted(wanted)
        },
    }


@dataclass
class DeployedStack:
    template: dict[str, Any]
    parameters: dict[str, str]
    physical_ids: dict[str, str]
    outputs: dict[str, str]

    def resolve(self, value: Any) -> Any:
        """A template value with its intrinsic functions worked out."""
        return self._evaluate(value)

    def _condition(self, name: str) -> bool:
        return bool(self._evaluate(self.template["Conditions"][name]))

    def _evaluate(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._evaluate(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self._evaluate(item) for key, item in value.items()}
        (key, arg), = value.items()
        if key == "Ref":
            return self._ref(arg)
        if key == "Fn::GetAtt":
            resource, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.outputs[_output_name(resource, attribute)]
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self._evaluate(arg[1]))
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self._sub_value(m.group(1), extra)), text)
        if key == "Fn::If":
            condition, when_true, when_false = arg
            return self._evaluate(when_true if self._condition(condition) else when_false)
        if key == "Fn::Equals":
            left, right = self._evaluate(arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._evaluate(arg[0])
        if key == "Fn::And":
            return all(self._evaluate(item) for item in arg)
        if key == "Fn::Or":
            return any(self._evaluate(item) for item in arg)
        if key == "Condition":
            return self._condition(arg)
        if key == "Fn::Join":
            separator, items = arg
            return separator.join(str(item) for item in self._evaluate(items))
        if key == "Fn::Select":
            index, items = self._evaluate(arg)
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = self._evaluate(arg)
            return text.split(separator)
        return {key: self._evaluate(arg)}

    def _sub_value(self, name: str, extra: Mapping[str, Any]) -> Any:
        if name in extra:
            return extra[name]
        if "." in name:
            return self.outputs[_output_name(*name.split(".", 1))]
        return self._ref(name)

    def _ref(self, name: str) -> Any:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws",
                  "AWS::StackName": "vectorizer-local", "AWS::URLSuffix": "amazonaws.com",
                  "AWS::NoValue": None}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical_ids[name]

    def environment(self, function: str) -> dict[str, str]:
        """A function's environment variables, resolved; a variable set to AWS::NoValue, or naming a
        resource not deployed locally (`MOTO_UNSUPPORTED`), is left out."""
        raw = function_environments(self.template)[function]
        absent = {name for name, resource in self.template["Resources"].items()
                  if resource["Type"] in MOTO_UNSUPPORTED}
        resolved = {name: self._evaluate(value) for name, value in raw.items() if not _names(value) & absent}
        return {name: str(value) for name, value in resolved.items() if value is not None}


def deploy(
    cloudformation: Any, *, stack_name: str = "vectorizer-local", overrides: Mapping[str, str] | None = None,
    template: Mapping[str, Any] | None = None, s3: Any = None,
) -> DeployedStack:
    """Create the stateful stack through CloudFormation and read back what it made.

    Buckets' notifications are then set through `s3` (an S3 client; by default one made like
    `cloudformation`, same endpoint and region), which moto's CloudFormation leaves out.
    """
    template = dict(template or load_template())
    overrides = dict(overrides or {})
    body = stateful_template(template)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()],
    )
    deployed = read_stack(cloudformation, stack_name, template)
    if s3 is None:
        import boto3

        # A moto server answers every service at one URL; AWS's own endpoint (mocked in process)
        # is per service, so S3 then gets its default one.
        endpoint = cloudformation.meta.endpoint_url
        own = endpoint if "cloudformation." not in endpoint else None
        s3 = boto3.client("s3", endpoint_url=own, region_name=cloudformation.meta.region_name)
    apply_bucket_notifications(deployed, s3)
    return deployed


def read_stack(cloudformation: Any, stack_name: str, template: Mapping[str, Any] | None = None) -> DeployedStack:
    """A deployed stack read back: parameters as deployed, physical ids and outputs."""
    template = dict(template or load_template())
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} ended {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    parameters = {
        name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()
    }
    parameters.update({p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])})
    resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    return DeployedStack(
        template=template,
        parameters=parameters,
        # moto names no physical id for some types (an EventBus): read those through Fn::GetAtt.
        physical_ids={r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources
                      if "LogicalResourceId" in r and "PhysicalResourceId" in r},
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
    )


def api_routes(template: Mapping[str, Any], function: str) -> list[tuple[str, str]]:
    """(method, path) of each `Api` event of a function, as API Gateway will route them."""
    events = template["Resources"][function].get("Properties", {}).get("Events", {})
    return [
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in events.values() if event["Type"] == "Api"
    ]


def queue_events(template: Mapping[str, Any], function: str) -> list[dict[str, Any]]:
    """The `SQS` event sources of a function, with their properties as written."""
    events = template["Resources"][function].get("Properties", {}).get("Events", {})
    return [event["Properties"] for event in events.values() if event["Type"] == "SQS"]


def _authorizer_function(scheme: Mapping[str, Any]) -> str | None:
    """The Lambda function (logical id) behind an OpenAPI Lambda authorizer scheme, if it is one."""
    authorizer = scheme.get("x-amazon-apigateway-authorizer")
    if not authorizer:
        return None
    uri = authorizer.get("authorizerUri", {})
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
    text = text[0] if isinstance(text, list) else text
    found = re.search(r"\$\{([A-Za-z0-9]+)\.Arn\}", text or "")
    return found.group(1) if found else None


def route_auth(stack: DeployedStack, api: str) -> dict[tuple[str, str], MethodAuth]:
    """(method, path) -> what API Gateway requires of it, read from the API's DefinitionBody.

    Takes the deployed stack (its parameters decide each `Fn::If`) and the API's logical id; a
    route the body does not list (or lists with empty `security`) requires nothing.
    """
    properties = stack.template["Resources"][api].get("Properties", {})
    body = properties.get("DefinitionBody") or {}
    schemes = (body.get("components") or {}).get("securitySchemes") or {}
    key_source = str(stack.resolve(properties.get("ApiKeySourceType", "HEADER")) or "HEADER")
    found: dict[tuple[str, str], MethodAuth] = {}
    for path, methods in (body.get("paths") or {}).items():
        for method, operation in methods.items():
            security = stack.resolve(operation.get("security")) or []
            names = {name for requirement in security for name in requirement}
            if not names:
                continue
            authorizers = [_authorizer_function(schemes.get(name, {})) for name in names]
            api_key = any(schemes.get(name, {}).get("type") == "apiKey" and not authorizer
                          for name, authorizer in zip(names, authorizers, strict=True))
            found[(method.upper(), path)] = MethodAuth(
                api_key=api_key, authorizer=next((a for a in authorizers if a), None), key_source=key_source)
    return found


def api_of(template: Mapping[str, Any], function: str) -> str | None:
    """The REST API (logical id) a function's `Api` events belong to."""
    events = template["Resources"][function].get("Properties", {}).get("Events", {})
    for event in events.values():
        if event["Type"] == "Api" and isinstance(event["Properties"].get("RestApiId"), dict):
            return event["Properties"]["RestApiId"].get("Ref")
    return None


def event_rules(template: Mapping[str, Any], function: str) -> list[dict[str, Any]]:
    """The `EventBridgeRule` events of a function, with their properties as written."""
    events = template["Resources"][function].get("Properties", {}).get("Events", {})
    return [event["Properties"] for event in events.values() if event["Type"] == "EventBridgeRule"]


def max_async_retries(stack: DeployedStack, function: str) -> int:
    """How often Lambda retries a failed asynchronous invocation of `function` (2 unless the template says)."""
    config = stack.template["Resources"][function].get("Properties", {}).get("EventInvokeConfig") or {}
    return int(stack.resolve(config.get("MaximumRetryAttempts", 2)))


def route_rules_to_queues(stack: DeployedStack, function: str, events_client: Any, sqs_client: Any) -> list[str]:
    """Each `EventBridgeRule` of `function`, made in embedded AWS with an SQS queue as its target.

    moto cannot invoke a function, so the rule (its bus and pattern exactly as the template has
    them) delivers to a queue of its own instead, whose messages are the events Lambda would
    receive; the local stack polls it and invokes the function. Returns the queues' URLs.
    """
    urls = []
    for n, rule in enumerate(event_rules(stack.template, function)):
        name = f"{function}-rule-{n}"
        url = sqs_client.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = stack.resolve(rule.get("EventBusName", "default"))
        events_client.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(stack.resolve(rule["Pattern"])))
        events_client.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
        urls.append(url)
    return urls
