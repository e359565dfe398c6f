# guideline-qa — `make run` (install, ingest corpus/, serve on 127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAGAS_DO_NOT_TRACK := true
export ANONYMIZED_TELEMETRY := False

.PHONY: install run ingest serve test test-fast test-e2e lint bench bench-ingest bench-load bench-guardrail bench-scale bench-vector-reuse eval clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of torch first, so nothing pulls the CUDA wheels
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[eval,test,train]'
	# the open-medicine corpus for tests and evals: its files only, so none of its own dependencies
	$(PY) -m pip install --quiet --no-deps open-medicine==0.12.0
	touch $(STAMP)

install: $(STAMP)

# the llama-index baselines of `make bench` and `make bench-ingest` (the `bench` extra)
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

ingest: install
	$(PY) -m ingest corpus

serve: install
	$(PY) -m service.serve --host $(HOST) --port $(PORT)  # uvicorn with the limits in docs/operations.md

run: ingest serve

# Debian's chromium for the widget's browser tests (test tools cannot download their own browsers)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing chromium + chromium-driver with apt"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

# every test, both tiers: the fast in-process ones and `e2e` (real processes, Chroma server, SIGKILL, browser, sweeps)
test: install browser
	@rc=0; $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected (exit 5) — treated as failure"; rc=1; fi; \
	exit $$rc

# the fast tier alone (in-process, about a minute): what to run while changing code
test-fast: install
	@rc=0; $(PY) -m pytest -m "not e2e" $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected (exit 5) — treated as failure"; rc=1; fi; \
	exit $$rc

test-e2e: install browser
	@rc=0; $(PY) -m pytest -m e2e $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected (exit 5) — treated as failure"; rc=1; fi; \
	exit $$rc

lint: install
	$(PY) -m ruff check config ingest service evals tests
	$(PY) -m mypy

bench-ingest: $(BENCH_STAMP)
	$(PY) -m evals.bench_ingest

bench: $(BENCH_STAMP)
	$(PY) -m evals.bench

bench-load: install
	$(PY) -m evals.bench_load

# what retrieval's reuse of the red-flag screen's question vector saves, in one interleaved run (the store
# `make bench` builds)
bench-vector-reuse: install
	$(PY) -m evals.bench_vector_reuse

bench-guardrail: install
	$(PY) -m evals.bench_guardrail

bench-scale: install
	$(PY) -m evals.bench_scale $(ARGS)

eval: install
	$(PY) -m evals run --suite all

clean:
	rm -rf .store .pytest_cache
