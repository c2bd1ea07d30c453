"""`make reliability`: one row per fault, counted from the stores, written to docs/RELIABILITY.md.

    PYTHONPATH=layers/vectorizer .venv/bin/python -m benchmarks.reliability [--jobs 2] [--texts 1000]
        [--only hf-500,kms-failing] [--no-load] [--output docs/RELIABILITY.md]

Starts the fake Hugging Face endpoint and one local stack pointed at it, runs every scenario of
`benchmarks.reliability.scenarios` on it, then the load phase; prints the table and writes the
document. Exits 1 when any row has something duplicated, lost or left open, or the load phase
saw a 5xx, a wrong vector or a job that did not end; 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from benchmarks.reliability.harness import ROOT, Row, bench, run_scenario
from benchmarks.reliability.load import LoadResult, run_load
from benchmarks.reliability.report import document, load_table, table
from benchmarks.reliability.scenarios import SCENARIOS, by_name
from tests.fakes.fake_hf_server import DIMENSIONS, Faults


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios (and the load) from the command line; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="jobs per row, submitted one after another")
    parser.add_argument("--texts", type=int, default=1000, help="texts per job")
    parser.add_argument("--only", default="", help="comma list of scenario names (default: all)")
    parser.add_argument("--no-load", action="store_true", help="skip the load phase")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    options = parser.parse_args(argv)
    scenarios = by_name(options.only.split(",")) if options.only else list(SCENARIOS)

    started = time.monotonic()
    rows: list[Row] = []
    load: LoadResult | None = None
    with bench() as running:
        print(f"stack ready in {time.monotonic() - started:.0f} s; {len(scenarios)} scenario(s)", flush=True)
        for scenario in scenarios:
            row = run_scenario(running, scenario, jobs=options.jobs, texts_per_job=options.texts)
            rows.append(row)
            t = row.tally
            print(f"{row.name}: accepted {t.accepted}, stored {t.stored}, failed {t.failed}, duplicated "
                  f"{t.duplicated}, lost {t.lost}, left open {t.left_open}, {row.seconds:.1f} s "
                  f"-> {'ok' if row.ok else 'FAIL'}", flush=True)
        if not options.no_load:
            running.fake.reconfigure(Faults())
            load = asyncio.run(run_load(running.stack.api, DIMENSIONS))
    seconds = time.monotonic() - started
    options.output.write_text(document(rows, load, jobs=options.jobs, texts_per_job=options.texts, seconds=seconds))
    print()
    print(table(rows))
    if load is not None:
        print()
        print(load_table(load))
    print(f"\nwritten: {options.output} ({seconds:.0f} s)")
    return 0 if all(row.ok for row in rows) and (load is None or load.ok) else 1


if __name__ == "__main__":
    sys.exit(main())
