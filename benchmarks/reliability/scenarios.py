"""The faults of the reliability run, one scenario (one row of the table) each.

A scenario is what the fake Hugging Face endpoint does (`Faults`) plus the AWS faults the
function processes meet (`local.faults` rules). The AWS rules name the vectors table, known only
once the stack runs, through the `{vectors_table}` placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from local.faults import FaultRule
from tests.fakes.fake_hf_server import Faults

# How many times boto3 sends one call in the functions (`vectorizer.services.AWS_CONFIG`: 5 retries):
# a fault must fire this often in a row to reach the service's own code.
AWS_ATTEMPTS = 6
WORKER = "WorkerFunction"
API = "ApiFunction"


@dataclass(frozen=True)
class Scenario:
    """One row: its name, what it does to the service, and the faults that do it."""

    name: str
    what: str
    hf: Faults = field(default_factory=Faults)
    aws: tuple[FaultRule, ...] = ()

    def rules(self, vectors_table: str) -> list[FaultRule]:
        """The AWS rules with the vectors table's real name filled in."""
        return [rule.model_copy(update={"match": rule.match.format(vectors_table=vectors_table)})
                if rule.match else rule for rule in self.aws]


def _rule(name: str, function: str, operation: str, action: str, **more: object) -> FaultRule:
    return FaultRule.model_validate({"name": name, "function": function, "operation": operation, "action": action,
                                     **more})


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("hf-503-loading", "30% of HF requests answer 503 loading, `estimated_time` 0.5 s",
             Faults(loading_rate=0.3, estimated_time=0.5)),
    Scenario("hf-scale-from-zero", "HF answers 503 loading to everything for 8 s after the first request, then serves",
             Faults(cold_start_seconds=8.0)),
    Scenario("hf-429-retry-after", "30% of HF requests answer 429 with `Retry-After: 1`",
             Faults(rate_limit_rate=0.3, retry_after="1")),
    Scenario("hf-500", "30% of HF requests answer 500", Faults(server_error_rate=0.3)),
    Scenario("hf-connection-reset", "20% of HF connections are reset without an answer", Faults(reset_rate=0.2)),
    Scenario("hf-read-timeout", "10% of HF requests are held 3 s, past the client's 2 s timeout",
             Faults(hang_rate=0.1, hang_seconds=3.0)),
    Scenario("hf-malformed-json", "20% of HF answers are a 200 whose body is cut-off JSON", Faults(malformed_rate=0.2)),
    Scenario("hf-wrong-vector-count", "20% of HF answers are a 200 with one vector too few",
             Faults(wrong_count_rate=0.2)),
    Scenario("hf-ragged-dimensions", "20% of HF answers are a 200 whose last vector is one number longer",
             Faults(ragged_rate=0.2)),
    Scenario("ddb-throttled-writes", "40% of the worker's BatchWriteItem calls on the vectors table are throttled",
             aws=(_rule("throttle-writes", WORKER, "dynamodb.BatchWriteItem", "error", rate=0.4,
                        match="{vectors_table}", status=400, code="ThrottlingException"),)),
    Scenario("ddb-throttled-transaction", "40% of the worker's counting transactions are throttled",
             aws=(_rule("throttle-transaction", WORKER, "dynamodb.TransactWriteItems", "error", rate=0.4,
                        status=400, code="ThrottlingException"),)),
    Scenario("kms-failing", "50% of the worker's KMS Decrypt calls fail (500), and the API's Encrypt for one "
             "submit, retries included",
             aws=(_rule("decrypt", WORKER, "kms.Decrypt", "error", rate=0.5, status=500,
                        code="KMSInternalException"),
                  _rule("encrypt", API, "kms.Encrypt", "error", budget=AWS_ATTEMPTS, status=500,
                        code="KMSInternalException"))),
    Scenario("queue-fails-mid-submit", "the second SendMessageBatch of a submit fails (503), retries included",
             aws=(_rule("queue-down", API, "sqs.SendMessageBatch", "error", after=1, budget=AWS_ATTEMPTS, status=503,
                        code="ServiceUnavailable"),)),
    Scenario("worker-killed-mid-chunk", "the worker process dies during 3 of its vector writes",
             aws=(_rule("kill-worker", WORKER, "dynamodb.BatchWriteItem", "exit", rate=0.2, budget=3,
                        match="{vectors_table}"),)),
    Scenario("worker-timeout", "2 worker invocations hang 45 s in their counting transaction (timeout 40 s)",
             aws=(_rule("hang-worker", WORKER, "dynamodb.TransactWriteItems", "hang", rate=0.2, budget=2,
                        seconds=45.0),)),
    Scenario("api-killed-mid-submit", "the API process dies before the second SendMessageBatch of a submit",
             aws=(_rule("kill-api", API, "sqs.SendMessageBatch", "exit", after=1, budget=1),)),
    Scenario("duplicate-deliveries", "every chunk message is put on the queue twice",
             aws=(_rule("duplicate", API, "sqs.SendMessageBatch", "duplicate"),)),
)

FAST = ("hf-503-loading", "hf-429-retry-after", "duplicate-deliveries")


def by_name(names: list[str] | tuple[str, ...]) -> list[Scenario]:
    """The scenarios named, in the order given; raises KeyError naming an unknown one."""
    known = {scenario.name: scenario for scenario in SCENARIOS}
    missing = [name for name in names if name not in known]
    if missing:
        raise KeyError(f"unknown scenario(s): {', '.join(missing)}; known: {', '.join(known)}")
    return [known[name] for name in names]
