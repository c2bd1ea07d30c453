"""docs/PERFORMANCE.md from one run's figures: a pure rendering, so it can be tested from given rows.

Every figure stands next to its goal and says whether it meets it; rows the run could not produce
(a part not measured, a peer that failed) are said to be missing or failed, never left out silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.performance.costs import CostTable, MeasuredCounts
from benchmarks.performance.fake_endpoint import EndpointParams
from benchmarks.performance.footprint import FootprintRow, RealModelRow, bytes_goal
from benchmarks.performance.job_runs import ChunkRun, InlineRun, JobRun, efficiency
from benchmarks.performance.peers import PeerRow

GOALS = {
    "chunk": 0.85,
    "job": 0.7,
    "inline": 0.8,
    "real_model": 1.15,
    "import_vs_boto3": 2.0,
}


@dataclass(frozen=True)
class Machine:
    """Where and when the run happened."""

    date: str
    cores: int
    python: str
    scale: float
    total_seconds: float


@dataclass
class Results:
    """Everything one run measured; the parts a run skipped stay empty."""

    machine: Machine
    params: EndpointParams
    worker_concurrency: int
    chunk_size: int
    chunk: ChunkRun | None = None  # the chunk the goal is read on (CHUNK_TEXTS)
    chunk_at_default: ChunkRun | None = None  # a chunk of the default CHUNK_SIZE: one HF wave
    inline: InlineRun | None = None
    job: JobRun | None = None  # the 10,000-text job
    scaling: list[JobRun] = field(default_factory=list)
    largest_accept: JobRun | None = None
    largest_binding: str = ""
    cache_repeat: JobRun | None = None  # the same 10k job again
    cache_distinct: JobRun | None = None  # 10k texts, 1k of them distinct
    cache_baseline: JobRun | None = None  # 1k distinct texts
    peers: list[PeerRow] = field(default_factory=list)
    peer_texts: int = 0
    peer_service: JobRun | None = None  # the service's job of the peers' texts
    footprint: list[FootprintRow] = field(default_factory=list)
    bytes_per_vector: int | None = None  # one stored vector item of params.dimensions
    real_model: RealModelRow | None = None
    cost: CostTable | None = None
    counts: MeasuredCounts | None = None
    notes: list[str] = field(default_factory=list)


def _grouped_row(m: RealModelRow) -> list[list[str]]:
    """The real-model table's row for the endpoint fed texts sorted by length, when it was measured:
    its seconds, and the job's time over it."""
    if m.grouped_ideal_seconds is None or m.ratio_to_grouped is None:
        return []
    return [["endpoint alone, the whole set sorted by length", f"{m.texts:,}", f"{m.grouped_ideal_seconds:.2f}",
             f"{items_per_second(m.texts, m.grouped_ideal_seconds):,.0f}",
             f"{m.grouped_ideal_seconds / m.ideal_seconds:.2f}",
             f"job / this: {m.ratio_to_grouped:.2f}"]]


def verdict(value: float, goal: float, *, at_most: bool = False) -> str:
    """Takes a figure and its goal; returns `meets` or `misses` (goal is a floor, or a ceiling with at_most)."""
    ok = value <= goal if at_most else value >= goal
    return "meets" if ok else "misses"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _rows_of(records: Sequence[Any]) -> str:
    """A table of dataclass rows whose fields this module does not know (the other modules' rows)."""
    if not records:
        return "_not measured in this run_"
    first = records[0]
    if not dataclasses.is_dataclass(first):
        return "\n".join(f"- {record}" for record in records)
    names = [f.name for f in dataclasses.fields(first)]
    return _table(names, [[_cell(getattr(record, name)) for name in names] for record in records])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _short(text: str, limit: int = 60) -> str:
    # The goals table keeps a failure's start; the peers table below has all of it.
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


def items_per_second(items: int, seconds: float) -> float:
    """Takes an item count and seconds; returns items per second (0.0 for no time)."""
    return items / seconds if seconds > 0 else 0.0


def _method(r: Results) -> str:
    p = r.params
    return f"""## Method

One run (`make bench`) on one machine; every figure below comes from it. The service runs as
the local stack (`local/`: moto server for DynamoDB, SQS and KMS, the functions in warm processes
of their own, the SQS event source feeding {r.worker_concurrency} worker invocations at once)
against a fake Hugging Face endpoint in a process of its own
(`benchmarks/performance/fake_endpoint.py`) whose costs are fixed, so each time has an ideal:

| parameter | value |
| --- | --- |
| L, seconds a request takes | {p.latency:g} |
| B, most texts a request (413 above, as TEI) | {p.max_batch} |
| C, requests worked at once by the endpoint | {p.concurrency} |
| Q, requests waiting beyond C (429 above) | {p.queue} |
| dimensions | {p.dimensions} |
| service: HF_BATCH_SIZE / HF_CONCURRENCY / CHUNK_SIZE | {p.max_batch} / {p.concurrency} / {r.chunk_size} |
| worker invocations at once (LOCAL_WORKER_CONCURRENCY) | {r.worker_concurrency} |
| BENCH_SCALE (text counts multiplied by it) | {r.machine.scale:g} |

Ideal for n texts = ceil(ceil(n / B) / C) x L: the endpoint's own requests, in whole waves of C
(a request cannot take less than L). Efficiency = ideal / measured; 1.0 is the endpoint's ceiling.
moto serves DynamoDB one request at a time (`local/stack.py`, to keep its transactions sound), so
the stored path is slower here than in AWS: read the ratios as this stack's, not a deployment's."""


def _headline(r: Results) -> str:
    rows: list[list[str]] = []
    if r.chunk:
        e = efficiency(r.chunk.ideal, r.chunk.median)
        rows.append([f"one chunk of {r.chunk.texts} texts (process_chunk)", f"{e:.2f}",
                     f">= {GOALS['chunk']}", verdict(e, GOALS["chunk"])])
    if r.job:
        e = efficiency(r.job.ideal, r.job.seconds)
        rows.append([f"{r.job.texts:,}-text job, POST to {r.job.status}", f"{e:.2f}", f">= {GOALS['job']}",
                     verdict(e, GOALS["job"])])
    if r.inline:
        e = efficiency(r.inline.ideal, r.inline.median)
        rows.append([f"inline, {r.inline.texts} texts", f"{e:.2f}", f">= {GOALS['inline']}",
                     verdict(e, GOALS["inline"])])
    if r.cache_repeat:
        rows.append([f"same {r.cache_repeat.texts:,}-text job again: HF requests", str(r.cache_repeat.hf_requests),
                     "0", "meets" if r.cache_repeat.hf_requests == 0 else "misses"])
    if r.cache_distinct and r.cache_baseline:
        rows.append([f"{r.cache_distinct.texts:,} texts, {r.cache_distinct.distinct:,} distinct: HF requests",
                     f"{r.cache_distinct.hf_requests} (vs {r.cache_baseline.hf_requests} for "
                     f"{r.cache_baseline.texts:,} texts)", f"<= {r.cache_baseline.hf_requests}",
                     verdict(r.cache_distinct.hf_requests, r.cache_baseline.hf_requests, at_most=True)])
    if r.peer_service:
        ours = items_per_second(r.peer_service.texts, r.peer_service.seconds)
        for peer in r.peers:
            if peer.failed:
                rows.append([f"items/s, service vs {peer.name} (same texts)", f"the peer failed: {_short(peer.failed)}",
                             "> 1x", "meets (the peer could not finish)"])
                continue
            theirs = items_per_second(peer.items, peer.seconds)
            ceiling = f"; the peer at {peer.efficiency:.2f} of the endpoint's ceiling" if peer.efficiency else ""
            rows.append([f"items/s, service vs {peer.name} ({peer.items:,} same texts)",
                         f"{ours:,.0f} vs {theirs:,.0f} ({ours / theirs:.2f}x{ceiling})" if theirs else "-",
                         "> 1x", "meets" if ours > theirs else "misses"])
    if r.real_model is not None:
        rows.append([f"real model, {r.real_model.texts:,}-text job to succeeded / endpoint alone",
                     f"{r.real_model.ratio:.2f}", f"<= {GOALS['real_model']}",
                     verdict(r.real_model.ratio, GOALS["real_model"], at_most=True)])
    for row in r.footprint:
        rows.append([f"`import app` of {row.handler} / `import boto3`", f"{row.ratio:.2f}x",
                     f"<= {GOALS['import_vs_boto3']:g}x", verdict(row.ratio, GOALS["import_vs_boto3"], at_most=True)])
    if r.bytes_per_vector is not None:
        goal = bytes_goal(r.params.dimensions)
        rows.append([f"bytes per stored {r.params.dimensions}-dim vector", f"{r.bytes_per_vector:,}",
                     f"<= {goal:,} (4 x {r.params.dimensions} + 150)", verdict(r.bytes_per_vector, goal, at_most=True)])
    if r.largest_accept:
        rows.append([f"202 of the largest request ({r.largest_accept.texts:,} texts)",
                     f"{r.largest_accept.accept_seconds:.2f} s", "reported", "-"])
    if r.cost is not None:
        rows.append(["cost of 1M vectors: AWS (+ HF endpoint, assumed)",
                     f"${r.cost.aws_usd:.2f} (+ ${r.cost.hf_usd:.2f})", "reported", "-"])
    if not rows:
        return "## Goals\n\n_nothing was measured_"
    return "## Goals\n\n" + _table(["figure", "measured", "goal", ""], rows)


def _chunk_inline(r: Results) -> str:
    rows = []
    runs = [("one chunk, process_chunk", r.chunk)]
    if r.chunk_at_default is not None:
        runs.append(("one chunk of the default CHUNK_SIZE, process_chunk", r.chunk_at_default))
    for name, run in (*runs, ("inline POST /vectorize (sync)", r.inline)):
        if run is None:
            rows.append([name, "-", "-", "-", "-", "not measured"])
            continue
        rows.append([name, run.texts, ", ".join(f"{s:.3f}" for s in run.seconds), f"{run.median:.3f}",
                     f"{run.ideal:.3f}", f"{efficiency(run.ideal, run.median):.2f}"])
    return "## One chunk and one inline request\n\nMedian of the runs after one warm-up run. A chunk's" \
        " writes overlap the HF requests still in flight; a chunk of the default CHUNK_SIZE (256 texts at" \
        " B=32, C=8) is one wave of requests, whose vectors all arrive at once, so nothing is left to hide" \
        " its writes behind: the goal is read on a chunk of several waves, and the default's row shows" \
        " the difference.\n\n" + _table(
        ["what", "texts", "seconds (each run)", "median s", "ideal s", "efficiency"], rows)


def _job_rows(runs: Sequence[JobRun]) -> list[list[Any]]:
    return [[run.label, f"{run.texts:,}", f"{run.distinct:,}", run.status, f"{run.accept_seconds:.2f}",
             f"{run.seconds:.1f}", f"{items_per_second(run.texts, run.seconds):,.0f}", f"{run.hf_requests:,}",
             f"{run.ideal:.2f}", f"{efficiency(run.ideal, run.seconds):.2f}"] for run in runs]


JOB_HEADER = ["job", "texts", "distinct", "status", "202 in s", "POST to end, s", "items/s", "HF requests",
              "ideal s", "efficiency"]


def _scaling(r: Results) -> str:
    if not r.scaling:
        return "## Jobs by size\n\n_not measured in this run_"
    text = ("## Jobs by size\n\nEach job from its POST to its final status (`GET /jobs/{id}` polled every"
            " 0.25 s); HF requests are the endpoint's own count.\n\n" + _table(JOB_HEADER, _job_rows(r.scaling)))
    if r.largest_accept:
        a = r.largest_accept
        text += (f"\n\nThe largest request the API takes: {a.texts:,} texts, {a.body_bytes / 1e6:.2f} MB of body"
                 f" ({r.largest_binding} binds); its 202 came in {a.accept_seconds:.2f} s.")
    return text


def _cache(r: Results) -> str:
    runs = [run for run in (r.cache_baseline, r.cache_repeat, r.cache_distinct) if run is not None]
    if not runs:
        return "## Content cache\n\n_not measured in this run_"
    return ("## Content cache\n\nThe same job a second time, and a job whose texts repeat; goal: 0 requests for"
            " the repeat, and no more for 10x the texts holding the same number of distinct ones.\n\n"
            + _table(JOB_HEADER, _job_rows(runs)))


def _peers(r: Results) -> str:
    if not r.peers:
        return "## Peers\n\n_not measured in this run (no peer clients available)_"
    rows = []
    service = r.peer_service
    ours = items_per_second(service.texts, service.seconds) if service else 0.0
    for peer in r.peers:
        if peer.failed:
            rows.append([peer.name, "0", f"{peer.seconds:.2f}", f"failed: {peer.failed}", "-", "-"])
            continue
        theirs = items_per_second(peer.items, peer.seconds)
        rows.append([peer.name, f"{peer.items:,}", f"{peer.seconds:.2f}", f"{theirs:,.0f}",
                     f"{peer.efficiency:.2f}" if peer.efficiency else "-",
                     f"{ours / theirs:.2f}" if theirs and service else "-"])
    if service:
        rows.append([f"this service (job \"{service.label}\", {service.status})", f"{service.texts:,}",
                     f"{service.seconds:.2f}", f"{ours:,.0f}", f"{efficiency(service.ideal, service.seconds):.2f}",
                     "1.00"])
    return (f"## Peers\n\nEach peer client calls the same fake endpoint with the same {r.peer_texts:,} texts,"
            " one peer after the other; the service's row is its job of those texts, run just before the"
            " peers (POST to succeeded, through API, queue, workers and DynamoDB; texts no earlier run had"
            " sent, so the content cache answered none). Of ceiling = the endpoint's ideal for those texts"
            " (on the endpoint the client ran against) over the client's seconds: a client at 1.00 gets all"
            " the endpoint can give, and no client can pass it. Ratio = the service's items/s over the"
            " peer's.\n\n"
            + _table(["client", "items", "seconds", "items/s", "of ceiling", "service / peer"], rows))


def _footprint(r: Results) -> str:
    parts = ["## Footprint"]
    if r.footprint:
        parts.append("Each handler's `import app` in a fresh interpreter set up as Lambda runs it (only the"
                     " layer's dependencies, tracing on), against `import boto3` in the same kind of"
                     f" interpreter; medians (`benchmarks/cold_start.py`). Goal <= {GOALS['import_vs_boto3']:g}x.")
        parts.append(_table(["handler", "import ms", "boto3 ms", "x boto3", ""],
                            [[row.handler, f"{row.import_ms:.0f}", f"{row.boto3_ms:.0f}", f"{row.ratio:.2f}",
                              verdict(row.ratio, GOALS["import_vs_boto3"], at_most=True)] for row in r.footprint]))
    else:
        parts.append("Imports: _not measured in this run_")
    if r.bytes_per_vector is not None:
        d = r.params.dimensions
        parts.append(f"One stored vector item of {d} dimensions, as the vector store writes it (into moto, read"
                     f" back, sized by DynamoDB's item-size rules): {r.bytes_per_vector:,} bytes; goal <= 4 x {d}"
                     f" + 150 = {bytes_goal(d):,}: {verdict(r.bytes_per_vector, bytes_goal(d), at_most=True)}.")
    m = r.real_model
    if m is not None:
        parts.append(
            "### Real model\n\nThe real all-MiniLM-L6-v2 endpoint (`local/model_server.py`, CPU) alone, then"
            f" a job of the same {m.texts:,} demo-corpus texts through a local stack using it"
            " (`benchmarks/bulk_job_overhead.py`). The endpoint alone: 32 texts a request, 8 in flight. The"
            " job: POST to `succeeded`; reading its vectors back is the next row, not part of the ratio."
            " The model is CPU-bound, and on this machine the service's own work (moto, API, workers)"
            " shares its cores, which in AWS it would not: so the endpoint runs at normal priority and the"
            f" stack at nice {m.stack_nice} (LOCAL_STACK_NICE); the service does all of its work, with the"
            " CPU the model leaves over. Both after one warm-up with other texts. The model pads every text"
            " of a request to the request's longest, and the service sends each chunk's texts grouped by"
            " length (`hf.client.hf_batches`), so it can take less time than the endpoint fed in the"
            " caller's order; the last row is the endpoint fed the whole set sorted by length, which no"
            " client can beat.\n\n"
            + _table(["what", "texts", "seconds", "texts/s", "x endpoint alone", ""], [
                ["endpoint alone, texts in the caller's order", f"{m.texts:,}", f"{m.ideal_seconds:.2f}",
                 f"{items_per_second(m.texts, m.ideal_seconds):,.0f}", "1.00", ""],
                ["job, POST to succeeded", f"{m.texts:,}", f"{m.ours_seconds:.2f}",
                 f"{items_per_second(m.texts, m.ours_seconds):,.0f}", f"{m.ratio:.2f}",
                 f"{verdict(m.ratio, GOALS['real_model'], at_most=True)} (<= {GOALS['real_model']})"],
                ["reading the vectors back", f"{m.texts:,}", f"{m.read_back_seconds:.2f}",
                 f"{items_per_second(m.texts, m.read_back_seconds):,.0f}", "-", "-"],
                *_grouped_row(m),
            ]))
    else:
        parts.append("Real model: _not measured in this run_")
    return "\n\n".join(parts)


def _cost(r: Results) -> str:
    counted = ""
    if r.counts is not None:
        counted = f"Counted during the {r.job.texts if r.job else 0:,}-text job:\n\n" + _rows_of([r.counts]) + "\n\n"
    body = r.cost.to_markdown() if r.cost is not None else "_not computed in this run_"
    return ("## Cost of a million vectors\n\nWorker invocations and their durations come from the stack's"
            " one line per invocation (the workers', the job's POST and its end notice; not the status polls),"
            " at the worker's memory size; SQS requests are the API's SendMessageBatch calls (10 chunks"
            " each) plus one receive and one delete a worker invocation (empty polls not counted);"
            " DynamoDB write units from the size of every item the job wrote (vectors, cache entries;"
            " 1 KB a unit) plus the counters' transactions (2 units an item, 2 items a chunk); read units"
            " from the cache lookups (one eventually consistent read a text, 0.5 unit) and the job"
            " reads (1 a chunk).\n\n" + counted + body)


def render(r: Results) -> str:
    """Takes one run's Results; returns docs/PERFORMANCE.md's text."""
    m = r.machine
    parts = [
        "# Performance",
        f"Measured {m.date} by `make bench` on {m.cores} cores (Python {m.python}); the whole run took"
        f" {m.total_seconds / 60:.1f} min. Charts: [items/s per client](performance-clients.png),"
        " [job time and HF requests by job size](performance-scaling.png).",
        _headline(r), _method(r), _chunk_inline(r), _scaling(r), _cache(r), _peers(r), _footprint(r), _cost(r),
    ]
    if r.notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in r.notes))
    return "\n\n".join(parts) + "\n"
