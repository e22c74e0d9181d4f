# One command surface, the same locally and in CI (.ci/run calls `make test`).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# PostgreSQL tests run against this server when it answers (they skip, saying why, when not).
WECOM_MOD_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
export WECOM_MOD_TEST_POSTGRES_URL

.PHONY: install run test test-fast check format eval bench bench-callbacks bench-answer-path bench-matcher bench-pipeline bench-archive bench-console bench-health

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## set up and serve on the default SQLite database
	$(BIN)/wecom-mod serve

# `make test` runs every test, the process-level ones (marked `slow`: subprocesses, uvicorn
# servers, containers) included. For the in-process ones alone while editing:
#   .venv/bin/python -m pytest -m "not slow"     (or `make test-fast`)
# tests/conftest.py fails a test that starts a process without the marker.
test: $(STAMP)  ## set up and run the whole test suite
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## the in-process tests only (-m "not slow")
	$(BIN)/python -m pytest -q -m "not slow"

check: $(STAMP)  ## format check, lint, types
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

eval: $(STAMP)  ## labelled corpus: engine recall per route and false positives, then timelines through the service
	$(BIN)/python benchmarks/eval.py $(EVAL_ARGS)

bench: $(STAMP)  ## every benchmark: matcher, pipeline, archive, then callbacks (exits 1 on a FAIL)
	$(BIN)/python benchmarks/matcher.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/archive.py
	$(BIN)/python benchmarks/callbacks.py

bench-callbacks: $(STAMP)  ## smart-bot callbacks: 1 and 2 replicas on PostgreSQL, SQLite, bare FastAPI; targets
	$(BIN)/python benchmarks/callbacks.py $(BENCH_ARGS)

bench-answer-path: $(STAMP)  ## the answer alone: HTTP-only replicas (no judging) against bare FastAPI, CPU per callback
	$(BIN)/python benchmarks/answer_path.py $(BENCH_ARGS)

bench-matcher: $(STAMP)  ## sensitive-word engine throughput against a bare Aho-Corasick automaton
	$(BIN)/python benchmarks/matcher.py

bench-pipeline: $(STAMP)  ## moderation decisions per second (detectors + policy + state), SQLite and PostgreSQL
	$(BIN)/python benchmarks/pipeline.py

bench-archive: $(STAMP)  ## chat-archive records processed per second (decryption stubbed), SQLite and PostgreSQL
	$(BIN)/python benchmarks/archive.py

bench-console: $(STAMP)  ## web-console page times: 1,000,000 log rows and 2,000 groups on PostgreSQL
	$(BIN)/python benchmarks/console.py $(BENCH_ARGS)

bench-health: $(STAMP)  ## community-health list: 10,000 groups x 400 days of rollups on PostgreSQL
	$(BIN)/python benchmarks/health.py $(BENCH_ARGS)
