"""`make bench`: the service's speed against a fake endpoint of known costs, in one run, into
docs/PERFORMANCE.md and two charts.

    PYTHONPATH=layers/vectorizer .venv/bin/python -m benchmarks.performance

BENCH_SCALE (default 1) multiplies every text count (0.1 for a quick check); a run at another
scale writes into .local/bench/ (BENCH_OUT to choose), so docs/ only ever holds a full run.
The stack's log is .local/bench/stack.log.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from benchmarks.performance import job_runs
from benchmarks.performance.charts import clients_chart, scaling_chart
from benchmarks.performance.costs import MeasuredCounts, cost_of_million, write_units
from benchmarks.performance.fake_endpoint import EndpointParams, RunningEndpoint, started_endpoint
from benchmarks.performance.footprint import bytes_per_vector, footprint_rows, item_size, real_model_ratio
from benchmarks.performance.job_runs import JobRun, invocations, read_log, texts_for
from benchmarks.performance.peers import PeerFailed, PeerRow, run_peer, run_peers
from benchmarks.performance.report import Machine, Results, items_per_second, render
from local.launcher import ROOT, ReadyStack, stack_ports, started_stack
from local.stack import StackSettings, function_environment
from local.template_stack import load_template, read_stack

# The fake endpoint: 0.5 s a request, 32 texts a request (TEI's default client batch), 8 at once
# and 64 waiting. 10,000 texts are then 313 requests, 40 waves: an ideal of 20 s. Half a second is
# a batch of 32 passages on a busy shared endpoint; at 0.1 s the local DynamoDB (moto, one request
# at a time, on the same two cores) would be what is measured, not the service.
PARAMS = EndpointParams(latency=0.5, max_batch=32, concurrency=8, queue=64)
WORKERS = 4  # worker invocations at once (two cores: more processes only take turns)
CHUNK_SIZE = 256  # the template's default, for every job of the run
CHUNK_TEXTS = 1024  # the one-chunk row's chunk: four waves of 8 requests (CHUNK_SIZE=1024 would queue such chunks)
# A Weaviate-like client sends 100 texts a request; the endpoint above refuses more than 32 (413),
# so it also runs against the same endpoint taking 100 a request (the service keeps its 32).
WEAVIATE_PARAMS = dataclasses.replace(PARAMS, max_batch=100)
FUNCTION_ENV = {"HF_BATCH_SIZE": str(PARAMS.max_batch), "HF_CONCURRENCY": str(PARAMS.concurrency),
                "CHUNK_SIZE": str(CHUNK_SIZE)}
LOG_DIR = ROOT / ".local" / "bench"
MAX_BODY_BYTES = 6_000_000  # Lambda's synchronous payload, so the API's largest request


def scaled(count: int, scale: float) -> int:
    """Takes a text count and BENCH_SCALE; returns the count scaled, at least 1."""
    return max(1, round(count * scale))


def _moto(stack: ReadyStack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.moto, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _worker_env(stack: ReadyStack, endpoint: RunningEndpoint) -> dict[str, str]:
    """The worker function's environment as the stack gives it, for `process_chunk` in this process."""
    moto_port = int(stack.moto.rsplit(":", 1)[1])
    settings = StackSettings(moto_port=moto_port, hf_base_url=endpoint.base_url, bridge=None,
                             function_env=FUNCTION_ENV)
    return function_environment(read_stack(_moto(stack, "cloudformation"), "vectorizer-local"), "WorkerFunction",
                                settings)


def _worker_memory_gb() -> float:
    template = load_template()
    own = template["Resources"]["WorkerFunction"]["Properties"].get("MemorySize")
    return float(own or template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)) / 1024


def _cache_sizes(stack: ReadyStack, table: str) -> dict[str, int]:
    return {item["key"]["S"]: item_size(item) for item in job_runs.table_items(stack.moto, table)}


def measured_counts(stack: ReadyStack, run: JobRun, log_before: int,
                    cache_before: dict[str, int]) -> MeasuredCounts:
    """Takes the stack, the 10k job's run, the stack log's length and the cache's item sizes before
    it; returns the job's MeasuredCounts (see docs/PERFORMANCE.md's cost section for how each is counted).
    """
    env = read_stack(_moto(stack, "cloudformation"), "vectorizer-local").environment("WorkerFunction")
    lines = read_log(LOG_DIR / "stack.log")[log_before:]
    worker = invocations(lines, "WorkerFunction")
    # The caller's POST and the job-ended notice are the job's; its status polls are the caller's choice.
    api = invocations(lines, "ApiFunction", "POST /vectorize")
    notifier = invocations(lines, "NotifierFunction")
    chunks = -(-run.texts // CHUNK_SIZE)
    vectors = [item for item in job_runs.table_items(stack.moto, env["VECTORS_TABLE"])
               if item.get("jobId", {}).get("S") == run.job_id]
    vector_sizes = [item_size(item) for item in vectors]
    cache_after = _cache_sizes(stack, env["CACHE_TABLE"]) if env.get("CACHE_TABLE") else {}
    cache_sizes = [size for key, size in cache_after.items() if key not in cache_before]
    return MeasuredCounts(
        vectors=len(vectors),
        lambda_gb_seconds=(worker.millis + api.millis + notifier.millis) / 1000 * _worker_memory_gb(),
        lambda_requests=worker.count + api.count + notifier.count,
        sqs_requests=-(-chunks // 10) + 2 * worker.count,
        dynamo_write_units=float(sum(map(write_units, vector_sizes + cache_sizes)) + 4 * chunks),
        dynamo_read_units=0.5 * run.texts + chunks,
        stored_bytes=sum(vector_sizes),
    )


def run(scale: float, out: Path) -> Results:
    """Takes BENCH_SCALE and the output folder; runs every measurement and returns the Results."""
    started = time.monotonic()
    results = Results(
        machine=Machine(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), os.cpu_count() or 1,
                        platform.python_version(), scale, 0.0),
        params=PARAMS, worker_concurrency=WORKERS, chunk_size=CHUNK_SIZE,
    )
    job_timeout = 600 * max(scale, 0.1)
    with started_endpoint(PARAMS) as endpoint:
        env = {**stack_ports(), "HF_API_BASE_URL": endpoint.base_url, "LOCAL_WORKER_CONCURRENCY": str(WORKERS),
               "LOCAL_FUNCTION_ENV": json.dumps(FUNCTION_ENV)}
        with started_stack(env=env, log_path=LOG_DIR / "stack.log", ready_timeout=300) as stack:
            _say("stack ready")
            results.chunk = job_runs.run_chunk(_worker_env(stack, endpoint), endpoint, CHUNK_TEXTS, runs=3)
            _say(f"chunk: median {results.chunk.median:.3f} s")
            results.chunk_at_default = job_runs.run_chunk(_worker_env(stack, endpoint), endpoint, CHUNK_SIZE, runs=3)
            _say(f"chunk of the default size: median {results.chunk_at_default.median:.3f} s")
            results.inline = job_runs.run_inline(stack, endpoint, 100, runs=5)
            _say(f"inline: median {results.inline.median:.3f} s")

            one_k, ten_k, fifty_k = scaled(1000, scale), scaled(10_000, scale), scaled(50_000, scale)
            baseline = job_runs.run_job(stack, endpoint, f"{one_k:,} texts", texts_for("job-1k", one_k),
                                        timeout=job_timeout)
            _say(f"1k job: {baseline.seconds:.1f} s")
            tables = read_stack(_moto(stack, "cloudformation"), "vectorizer-local").environment("WorkerFunction")
            cache_before = _cache_sizes(stack, tables["CACHE_TABLE"]) if tables.get("CACHE_TABLE") else {}
            log_before = len(read_log(LOG_DIR / "stack.log"))
            ten_texts = texts_for("job-10k", ten_k)
            results.job = job_runs.run_job(stack, endpoint, f"{ten_k:,} texts", ten_texts, timeout=job_timeout)
            _say(f"10k job: {results.job.seconds:.1f} s")
            results.counts = measured_counts(stack, results.job, log_before, cache_before)
            results.cache_repeat = job_runs.run_job(stack, endpoint, f"{ten_k:,} texts again", ten_texts,
                                                    timeout=job_timeout)
            results.cache_distinct = job_runs.run_job(
                stack, endpoint, f"{ten_k:,} texts, {one_k:,} distinct", texts_for("job-rep", ten_k, one_k),
                timeout=job_timeout)
            results.cache_baseline = baseline
            _say("cache runs done")
            largest = job_runs.run_job(stack, endpoint, f"{fifty_k:,} texts", texts_for("job-50k", fifty_k),
                                       timeout=job_timeout * 2)
            _say(f"50k job: {largest.seconds:.1f} s")
            results.scaling = [baseline, results.job, largest]
            max_texts = int(tables.get("MAX_TEXTS") or 50_000)
            if largest.texts >= max_texts:
                results.largest_accept = largest
                results.largest_binding = (f"MAX_TEXTS ({max_texts:,} texts)" if largest.body_bytes < MAX_BODY_BYTES
                                           else "the 6 MB body")
            else:
                results.notes.append(f"The largest request ({max_texts:,} texts, MAX_TEXTS) is only sent at"
                                     " BENCH_SCALE=1.")

            # The peers and the service on the same texts and endpoint, one after the other: the
            # service as a job of those texts (POST to succeeded), which no earlier run has sent.
            results.peer_texts = scaled(2000, scale)
            peer_texts = texts_for("peers", results.peer_texts)
            results.peer_service = job_runs.run_job(stack, endpoint, f"{results.peer_texts:,} peer texts",
                                                    peer_texts, timeout=job_timeout)
            # run_peers takes the base URL, as HF_API_BASE_URL does, and adds the model's path itself.
            results.peers = [with_ideal(row, PARAMS)
                             for row in run_peers(endpoint.base_url, peer_texts, job_runs.MODEL)]
            with started_endpoint(WEAVIATE_PARAMS) as wide:
                results.peers.append(with_ideal(_weaviate_row(wide, peer_texts), WEAVIATE_PARAMS))
            _say("peers done")
    results.bytes_per_vector = bytes_per_vector(PARAMS.dimensions)
    results.cost = cost_of_million(results.counts)
    # The footprint starts stacks and the real model of its own: after ours is stopped, not beside it.
    results.footprint = footprint_rows()
    _say("imports timed")
    # The whole demo corpus at full scale (1,858 texts), so the stack's fixed start-up does not dominate.
    results.real_model = real_model_ratio(None if scale == 1 else scaled(1858, scale))
    _say(f"real model: {results.real_model.ratio:.2f}")
    results.machine = dataclasses.replace(results.machine, total_seconds=time.monotonic() - started)
    write(results, out)
    return results


def with_ideal(row: PeerRow, params: EndpointParams) -> PeerRow:
    """Takes a peer's row and the costs of the endpoint it ran against; returns the row with that
    endpoint's ideal for its texts (a failed row has none)."""
    if row.failed:
        return row
    return dataclasses.replace(row, ideal=job_runs.ideal_seconds(row.items, params.max_batch, params.concurrency,
                                                                 params.latency))


def _weaviate_row(endpoint: RunningEndpoint, texts: list[str]) -> PeerRow:
    """The Weaviate-like peer against an endpoint that takes its 100 texts a request; its row is
    named for that endpoint (a failure is a row too, as in run_peers)."""
    name = f"weaviate_like (endpoint taking {endpoint.params.max_batch} a request)"
    started = time.perf_counter()
    try:
        row, _ = run_peer("weaviate_like", endpoint.base_url, texts, job_runs.MODEL)
    except PeerFailed as failure:
        return PeerRow(name, time.perf_counter() - started, 0, str(failure))
    return dataclasses.replace(row, name=name)


def write(results: Results, out: Path) -> None:
    """Takes the Results and a folder; writes PERFORMANCE.md and the two charts into it."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "PERFORMANCE.md").write_text(render(results), encoding="utf-8")
    finished = [peer for peer in results.peers if not peer.failed]  # a failed peer has no rate to draw
    names = [peer.name for peer in finished]
    rates = [items_per_second(peer.items, peer.seconds) for peer in finished]
    if results.peer_service:
        names.append("this service")
        rates.append(items_per_second(results.peer_service.texts, results.peer_service.seconds))
    clients_chart(out / "performance-clients.png", names, rates)
    runs = sorted(results.scaling, key=lambda r: r.texts)
    scaling_chart(out / "performance-scaling.png", [r.texts for r in runs], [r.seconds for r in runs],
                  [r.hf_requests for r in runs])


def _say(what: str) -> None:
    print(f"bench: {what}", file=sys.stderr, flush=True)


def main() -> None:
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    default_out = ROOT / "docs" if scale == 1 else LOG_DIR
    out = Path(os.environ.get("BENCH_OUT") or default_out)
    results = run(scale, out)
    print((out / "PERFORMANCE.md").read_text(encoding="utf-8"))
    _say(f"done in {results.machine.total_seconds:.0f} s; wrote {out}/PERFORMANCE.md and two charts")


if __name__ == "__main__":
    main()
