# Two commands on a fresh machine: `make demo` and `make test` (see README, Quick start).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test lint bench lock clean

$(BIN)/.installed: requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

## demo: set up and build a demo registry with real lineage in build/demo, then verify it
demo: $(BIN)/.installed
	$(BIN)/python -m registry.demo build/demo

## test: set up and run the whole test suite (PostgreSQL tests need PROV_TEST_DATABASE_URL)
test: $(BIN)/.installed
	$(BIN)/ruff check provenance registry retention tui tests bench
	$(BIN)/mypy provenance retention
	$(BIN)/python -m pytest -n 2

lint: $(BIN)/.installed
	$(BIN)/ruff check provenance registry retention tui tests bench
	$(BIN)/ruff format --check provenance registry retention tui tests bench
	$(BIN)/mypy provenance retention

## bench: run the benchmarks (figures go to docs/benchmarks.md by hand)
bench: $(BIN)/.installed
	$(BIN)/python bench/run_all.py

## lock: re-resolve the pinned dependency set after editing pyproject.toml
lock: $(BIN)/.installed
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -q -o requirements/dev.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -q -o requirements/runtime.lock

clean:
	rm -rf $(VENV) build
