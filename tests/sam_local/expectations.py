"""What each event in events/ must get back from `sam local invoke`, as events/README.md documents it.

One entry per event file, keyed by its name: the function it is for, the check of the function's
answer, and whether it needs job `sam-local-job-1` to exist first (the `sam_local_job` fixture
makes it). A new event file without an entry here fails the run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from local.launcher import ReadyStack
from scripts.sam_local import AwsClients
from vectorizer.errors import JobNotFoundError
from vectorizer.jobs.job_store import FINAL_STATUSES, JobRecord, JobStore

EVENTS = Path(__file__).resolve().parents[2] / "events"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
JOB_ID = "sam-local-job-1"  # the job of worker-chunk.json, read by the GET /jobs events
DEAD_JOB_ID = "sam-local-job-3"  # the job of dead-letter-chunk.json
JOB_TIMEOUT = 120  # seconds for the local stack's worker to finish a job of a few texts


@dataclass(frozen=True)
class SamLocal:
    """What a check may look at besides the answer: the local stack, the containers' environment, moto."""

    ready: ReadyStack
    env: dict[str, dict[str, str]]
    aws: AwsClients
    api: httpx.Client


Check = Callable[[Any, SamLocal], None]


@dataclass(frozen=True)
class Expectation:
    function: str
    check: Check
    needs_job: bool = False


def ended_job(stack: SamLocal, job_id: str, timeout: float = JOB_TIMEOUT) -> JobRecord:
    """The job as its table holds it, once it is final (AssertionError if it is not by `timeout`).

    Read from the table, not through the API: the API reports a job to its owner only, and the
    jobs an event makes belong to the event's identity (or, queued straight, to nobody).
    """
    table = stack.env["ApiFunction"]["JOBS_TABLE"]
    store = JobStore(stack.aws("dynamodb"), table, ttl_days=1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            job = store.get(job_id, max_errors=0)
        except JobNotFoundError:
            job = None
        if job is not None and job.status in FINAL_STATUSES:
            return job
        assert time.monotonic() < deadline, f"job {job_id} did not end in {timeout} s: {job}"
        time.sleep(0.5)


def event_names() -> list[str]:
    """The event files in events/, by name, sorted."""
    return sorted(path.name for path in EVENTS.glob("*.json"))


def proxy_answer(answer: Any) -> tuple[int, dict[str, str], Any]:
    """(status, headers with lower-case names, decoded JSON body) of an API Gateway proxy answer."""
    assert isinstance(answer, dict) and "statusCode" in answer, f"not a proxy answer: {answer!r:.300}"
    headers = {name.lower(): value for name, value in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        if values:
            headers.setdefault(name.lower(), values[-1])
    body = answer.get("body")
    try:
        decoded = json.loads(body) if body else None
    except json.JSONDecodeError:
        decoded = body
    return int(answer["statusCode"]), headers, decoded


def ok_body(answer: Any, status: int = 200) -> tuple[dict[str, str], Any]:
    got, headers, body = proxy_answer(answer)
    assert got == status, f"status {got}, expected {status}: {body!r:.300}"
    return headers, body


def assert_error(answer: Any, status: int, code: str, error: str | None = None) -> None:
    _, body = ok_body(answer, status)
    assert isinstance(body, dict) and body.get("code") == code, f"{body!r:.300}: expected code {code!r}"
    assert isinstance(body.get("error"), str) and body["error"], "no error message"
    if error is not None:
        assert body["error"] == error


def assert_vectors(vectors: Any, count: int) -> None:
    assert isinstance(vectors, list) and len(vectors) == count, f"{vectors!r:.200}: expected {count} vectors"
    for vector in vectors:
        assert isinstance(vector, list) and len(vector) == DIMENSIONS, f"a vector is not {DIMENSIONS} long"
        assert all(isinstance(x, (int, float)) for x in vector), "a vector is not all numbers"


def check_health(answer: Any, stack: SamLocal) -> None:
    assert ok_body(answer)[1] == {"status": "ok"}


def check_sync(answer: Any, stack: SamLocal) -> None:
    _, body = ok_body(answer)
    assert (body.get("model"), body.get("dimensions"), body.get("ids")) == (
        MODEL, DIMENSIONS, ["fox", "weaviate", "embeddings"])
    assert_vectors(body.get("vectors"), 3)


def check_async(answer: Any, stack: SamLocal) -> None:
    headers, body = ok_body(answer, 202)
    job_id = body.get("jobId")
    assert isinstance(job_id, str) and job_id, f"no jobId: {body!r:.300}"
    assert {k: body.get(k) for k in ("status", "total", "chunks")} == {"status": "queued", "total": 5, "chunks": 1}
    assert headers.get("location") == f"/jobs/{job_id}"
    # The chunk landed on the work queue with the caller's token sealed: the local stack's event
    # source feeds it to its worker, which must unseal the token and finish the job.
    job = ended_job(stack, job_id)
    assert (job.status, job.succeeded, job.failed) == ("succeeded", 5, 0), job


FILE_LINES = ['{"id": "f-1", "text": "A lighthouse keeper watched the storm."}', '"Fresh bread on the sill."',
              '{"id": "f-3", "text": "Tides follow the moon."}']


def check_file_job_upload(answer: Any, stack: SamLocal) -> None:
    _, body = ok_body(answer, 202)
    job_id = body.get("jobId")
    assert isinstance(job_id, str) and body.get("status") == "awaiting_upload", f"{body!r:.300}"
    upload = body.get("upload") or {}
    key = f"uploads/{job_id}/input.jsonl"
    assert upload.get("method") == "PUT" and key in upload.get("url", ""), f"{upload!r:.300}"
    # The file goes in as the caller's PUT would put it (the link names the container's view of
    # moto): its S3 notification reaches the local stack's splitter, then its worker.
    stack.aws("s3").put_object(Bucket=stack.env["ApiFunction"]["FILES_BUCKET"], Key=key,
                               Body="".join(line + "\n" for line in FILE_LINES).encode())
    job = ended_job(stack, job_id)
    assert (job.status, job.total, job.succeeded, job.failed) == ("succeeded", 3, 3, 0), job


def check_hf_feature_extraction(answer: Any, stack: SamLocal) -> None:
    # Hugging Face's own answer: a bare 2-D array, one vector per input, in input order.
    assert_vectors(ok_body(answer)[1], 2)


def check_openai_embeddings(answer: Any, stack: SamLocal) -> None:
    _, body = ok_body(answer)
    assert (body.get("object"), body.get("model")) == ("list", MODEL)
    data = body.get("data")
    assert [(d.get("object"), d.get("index")) for d in data] == [("embedding", 0), ("embedding", 1)]
    assert_vectors([d.get("embedding") for d in data], 2)
    assert body.get("usage") == {"prompt_tokens": 21, "total_tokens": 21}


def check_authorizer(answer: Any, stack: SamLocal) -> None:
    # Allow, with the bearer handed to API Gateway as the usage plan's key (it checks the key).
    event = json.loads((EVENTS / "authorizer-request.json").read_text())
    key = "sam-local-example-api-key-0000000000000"
    assert answer == {
        "principalId": f"key-{hashlib.sha256(key.encode()).hexdigest()[:16]}",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]},
        "usageIdentifierKey": key,
        "context": {"apiKeySource": "bearer"},
    }


def check_hf_with_bearer_key(answer: Any, stack: SamLocal) -> None:
    # The bearer was the service's API key, so the default token embeds; without one, a 401.
    env = stack.env["ApiFunction"]
    if env.get("HUGGINGFACE_APIKEY") or env.get("HUGGINGFACE_APIKEY_SECRET_ARN"):
        assert_vectors(ok_body(answer)[1], 2)
    else:
        status, _, body = proxy_answer(answer)
        assert status == 401, body


def check_bad_config(answer: Any, stack: SamLocal) -> None:
    assert_error(answer, 400, "invalid_config",
                 "config: only one setting must be set either 'model' or 'passageModel' with 'queryModel'")


def check_no_token(answer: Any, stack: SamLocal) -> None:
    env = stack.env["ApiFunction"]
    if env.get("HUGGINGFACE_APIKEY") or env.get("HUGGINGFACE_APIKEY_SECRET_ARN"):
        _, body = ok_body(answer)  # vectorized with the local stack's default token
        assert body.get("model") == MODEL
        assert_vectors(body.get("vectors"), 1)
    else:
        assert_error(answer, 401, "missing_token")


def check_worker_chunk(answer: Any, stack: SamLocal) -> None:
    assert answer == {"batchItemFailures": []}
    # The job is created on first sight and ends with the chunk (or was already, by the same chunk).
    job = ended_job(stack, JOB_ID)
    assert (job.status, job.total, job.succeeded, job.failed) == ("succeeded", 3, 3, 0)


def check_get_job(answer: Any, stack: SamLocal) -> None:
    _, body = ok_body(answer)
    want = {"jobId": JOB_ID, "status": "succeeded", "total": 3, "succeeded": 3, "failed": 0, "errors": [],
            "model": MODEL, "dimensions": DIMENSIONS}
    assert {k: body.get(k) for k in want} == want
    assert body.get("createdAt") and body.get("updatedAt")


def check_get_job_vectors(answer: Any, stack: SamLocal) -> None:
    _, body = ok_body(answer)
    items = body.get("items")
    assert [(item.get("index"), item.get("id")) for item in items] == [(0, "item-0"), (1, "item-1")]
    assert_vectors([item.get("vector") for item in items], 2)
    assert isinstance(body.get("nextToken"), str) and body["nextToken"]


def check_dead_letter_chunk(answer: Any, stack: SamLocal) -> None:
    assert answer == {"batchItemFailures": []}
    # The job is created on first sight and closed by the chunk's dead letter: no vector, both items failed.
    table = stack.env["DeadLetterFunction"]["JOBS_TABLE"]
    items = stack.aws("dynamodb").query(
        TableName=table, KeyConditionExpression="jobId = :j", ExpressionAttributeValues={":j": {"S": DEAD_JOB_ID}},
    )["Items"]
    by_key = {item["sk"]["S"]: item for item in items}
    job = by_key["job"]
    assert (job["status"]["S"], job["succeeded"]["N"], job["failed"]["N"]) == ("failed", "0", "2")
    assert by_key["chunk#000000"]["closedBy"]["S"] == "dead-letter"
    reason = "delivery limit reached after 5 deliveries"
    assert [(by_key[f"error#{i:012d}"]["id"]["S"], by_key[f"error#{i:012d}"]["error"]["S"]) for i in (0, 1)] == [
        ("dead-0", reason), ("dead-1", reason)]


def check_not_found(answer: Any, stack: SamLocal) -> None:
    assert_error(answer, 404, "job_not_found")


def parked_identity(body: str) -> str:
    """What ties a parked copy to its original: job and chunk for a JSON message, else the body itself."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict) and "jobId" in data:
        return f"job {data['jobId']} chunk {data.get('chunk')}"
    return body


def check_invalid_message(answer: Any, stack: SamLocal) -> None:
    assert answer == {"batchItemFailures": []}
    event = json.loads((EVENTS / "worker-invalid-message.json").read_text())
    bodies = [record["body"] for record in event["Records"]]
    # The worker parks a JSON message without the keys the schema does not know (one could be a
    # stray token), so a parked copy is matched to its original by job and chunk, not byte for byte.
    originals = {parked_identity(body): body for body in bodies}
    sqs = stack.aws("sqs")
    # The local stack's dead-letter consumer moves what it reads on to ParkedChunksQueue: look in both.
    queues = [stack.env["WorkerFunction"]["DEAD_LETTER_QUEUE_URL"],
              stack.env["DeadLetterFunction"]["PARKED_CHUNKS_QUEUE_URL"]]
    reasons: dict[str, str] = {}
    parked: dict[str, str] = {}
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    # Look without taking: each message read goes back at once (visibility timeout 0).
    while len(reasons) < len(bodies) and time.monotonic() < deadline:
        messages = [message for url in queues for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"],
            WaitTimeSeconds=1).get("Messages", [])]
        for message in messages:
            if message["MessageId"] in seen:
                continue
            seen.add(message["MessageId"])
            original = originals.get(parked_identity(message["Body"]))
            if original is not None:
                reasons[original] = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
                parked[original] = message["Body"]
    assert sorted(reasons) == sorted(bodies), "not every message is on the dead-letter queue"
    assert all(reasons.values()), f"parked without a reason attribute: {reasons}"
    assert not any("colour" in body for body in parked.values()), "a key outside the schema was parked"


def check_notifier_job_ended(answer: Any, stack: SamLocal) -> None:
    # The job of worker-chunk.json came from a producer, so it named no callbackUrl: nothing to call.
    assert answer == {"jobId": JOB_ID, "callback": "none"}


def check_notifier_other_event(answer: Any, stack: SamLocal) -> None:
    assert answer == {"jobId": None, "callback": "none"}


def check_sweeper(answer: Any, stack: SamLocal) -> None:
    # The other events' jobs all end, so a sweep finds nothing stalled, unless something else
    # left a job open on this stack: then each one it closes is failed or partial.
    assert isinstance(answer, dict) and set(answer) == {"examined", "closed", "moved"}, answer
    assert isinstance(answer["examined"], int) and answer["examined"] >= len(answer["closed"])
    assert all(closed["status"] in ("failed", "partial") for closed in answer["closed"]), answer


def check_splitter_ignores_unknown_job(answer: Any, stack: SamLocal) -> None:
    # No file job sam-local-file-job-1 awaits its upload on the local stack: logged, acknowledged.
    assert answer == {"batchItemFailures": []}


EXPECTATIONS: dict[str, Expectation] = {
    "api-health.json": Expectation("ApiFunction", check_health),
    "api-vectorize-bad-config.json": Expectation("ApiFunction", check_bad_config),
    "api-get-job-not-found.json": Expectation("ApiFunction", check_not_found),
    "api-vectorize-sync.json": Expectation("ApiFunction", check_sync),
    "api-vectorize-no-token.json": Expectation("ApiFunction", check_no_token),
    "api-hf-feature-extraction.json": Expectation("ApiFunction", check_hf_feature_extraction),
    "api-openai-embeddings.json": Expectation("ApiFunction", check_openai_embeddings),
    "api-hf-feature-extraction-bearer-key.json": Expectation("ApiFunction", check_hf_with_bearer_key),
    "authorizer-request.json": Expectation("AuthorizerFunction", check_authorizer),
    "api-vectorize-async.json": Expectation("ApiFunction", check_async),
    "api-post-jobs-upload.json": Expectation("ApiFunction", check_file_job_upload),
    "worker-chunk.json": Expectation("WorkerFunction", check_worker_chunk),
    "api-get-job.json": Expectation("ApiFunction", check_get_job, needs_job=True),
    "api-get-job-vectors.json": Expectation("ApiFunction", check_get_job_vectors, needs_job=True),
    "worker-invalid-message.json": Expectation("WorkerFunction", check_invalid_message),
    "dead-letter-chunk.json": Expectation("DeadLetterFunction", check_dead_letter_chunk),
    "notifier-job-ended.json": Expectation("NotifierFunction", check_notifier_job_ended, needs_job=True),
    "notifier-other-event.json": Expectation("NotifierFunction", check_notifier_other_event),
    "sweeper-scheduled.json": Expectation("SweeperFunction", check_sweeper),
    "splitter-s3-upload.json": Expectation("SplitterFunction", check_splitter_ignores_unknown_job),
    "splitter-continue.json": Expectation("SplitterFunction", check_splitter_ignores_unknown_job),
}


def missing_expectation(event: str) -> str | None:
    """Why `event` cannot be checked (no entry here, or no such file in events/); None when it can."""
    if event not in EXPECTATIONS:
        return (f"events/{event} has no expected answer: add one to tests/sam_local/expectations.py "
                "(EXPECTATIONS) and document it in events/README.md")
    if not (EVENTS / event).is_file():
        return f"tests/sam_local/expectations.py expects events/{event}, which does not exist"
    return None
