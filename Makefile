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

## test: set up, lint, and run the whole test suite (PostgreSQL tests need PROV_TEST_DATABASE_URL);
## the core's tests run as if the database and web packages were not installed
test: lint
	$(BIN)/python -m pytest -n 2 -p tests.support.no_database tests/provenance tests/retention
	$(BIN)/python -m pytest -n 2 --ignore=tests/provenance --ignore=tests/retention

## lint: ruff (checks and formatting), mypy (strict on the core), the import contracts
lint: $(BIN)/.installed
	$(BIN)/ruff check provenance registry retention tui tests bench
	$(BIN)/ruff format --check provenance registry retention tui tests bench
	$(BIN)/mypy provenance retention registry
	$(BIN)/lint-imports

## bench: run the benchmarks with DVC as the peer (figures go to docs/benchmarks.md)
bench: $(BIN)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e .[bench,s3,dvc]
	$(BIN)/python bench/hash_throughput.py
	$(BIN)/python bench/add_file.py
	$(BIN)/python bench/add_dir.py
	$(BIN)/python bench/bulk_register.py
	$(BIN)/python bench/log_scale.py
	$(BIN)/python bench/retention_plan.py
	$(BIN)/python bench/remote_transfer.py

## lock: re-resolve the pinned dependency set after editing pyproject.toml
lock: $(BIN)/.installed
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -q -o requirements/dev.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -q -o requirements/runtime.lock

clean:
	rm -rf $(VENV) build
