# Two commands for newcomers: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-no-serve test test-fast lint format bench ui clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $(STAMP)

## generate data, train, promote, then serve the dashboard on http://127.0.0.1:5006
demo: $(STAMP)
	$(BIN)/segments demo

## the same without the dashboard (stops after promote)
demo-no-serve: $(STAMP)
	$(BIN)/segments demo --no-serve

## lint, format check and every test (browser tests need /usr/bin/chromium)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

## the inner loop (under two minutes): lint, then every test but the browser, Spark, PostgreSQL and slow ones
FAST_MARKERS := not browser and not spark and not postgres and not slow
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --ignore=tests/browser -m "$(FAST_MARKERS)" --durations=5

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## every benchmark at the issue's sizes (~1 h); BENCH_ARGS="--quick" for a smoke run of a few minutes
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

ui: $(STAMP)
	$(BIN)/segments ui

clean:
	rm -rf $(VENV) build dist *.egg-info
