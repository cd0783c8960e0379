# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint types install install-dev install-airflow test-airflow bench clean chromium lock

# The lock: requirements/*.txt, every package pinned with its hashes (`make lock` refreshes it).
# run.txt: the product; dev.txt: and its tests and gates; bench.txt: and the benchmark's peers.
LOCK := requirements

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "xdm-connector needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

# pip installs exactly the locked files (every hash checked), then the project itself from
# this folder, built by the locked hatchling without fetching anything else.
define install_locked
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)/$(1).txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
endef

$(VENV)/.installed: $(LOCK)/run.txt pyproject.toml | $(BIN)/python
	$(call install_locked,run)
	touch $@

$(VENV)/.installed-dev: $(LOCK)/dev.txt pyproject.toml | $(BIN)/python
	$(call install_locked,dev)
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The Airflow provider's tests run in an environment of their own, from a lock of their
# own (airflow.txt: the product with its [airflow] extra, and pytest): Airflow pins some
# packages below the product's lock (FastAPI), so the two cannot share one environment.
AIRFLOW_VENV := .venv-airflow
$(AIRFLOW_VENV)/.installed: $(LOCK)/airflow.txt pyproject.toml
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --require-hashes -r $(LOCK)/airflow.txt
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install-airflow: $(AIRFLOW_VENV)/.installed

## The Airflow provider's tests alone: a real Airflow (dag.test) against a real server
test-airflow: install-dev install-airflow
	XDMC_SERVER_PYTHON=$(BIN)/python $(AIRFLOW_VENV)/bin/pytest --confcutdir=tests/airflow tests/airflow

## Prepare the demo and serve the API with an embedded worker at http://127.0.0.1:8080
run: install
	$(BIN)/xdm-connector demo
	exec $(BIN)/xdm-connector serve

# Test processes: three keep two cores busy, as many tests wait on the servers and
# commands they start; each test file runs whole in one of them (its fixtures set up once).
# Files go out in their collection order, the end-to-end ones first: xdist's default order
# (most tests first) left the long files of few tests (the bench's smoke run) for the end.
TEST_PROCESSES ?= 3

## Lint, types, and every test (unit, integration on SQLite and PostgreSQL, end to end),
## against the PostgreSQL of XDMC_TEST_POSTGRES_URL, or a private one when it does not answer
test: lint types chromium install-airflow
	$(BIN)/python -m tests.servers $(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile \
	  --no-loadscope-reorder
	XDMC_SERVER_PYTHON=$(BIN)/python $(AIRFLOW_VENV)/bin/pytest --confcutdir=tests/airflow tests/airflow

## Debian's Chromium for the browser tests (Playwright cannot download its own browser here)
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "Installing Debian's chromium for the browser tests (apt-get)"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "make test needs $(CHROMIUM): run as root, or install sudo, or apt-get install chromium" >&2; exit 1; fi; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	    || { echo "make test could not install chromium with apt-get: install it, then run make test again" >&2; exit 1; }; \
	fi
	@test -x $(CHROMIUM) || { echo "make test needs $(CHROMIUM), and it is still missing" >&2; exit 1; }

## Benchmarks against the limits and peers (not part of make test): BENCH_ARGS="--profiles 1000000,10000000"
BENCH_ARGS ?=
$(VENV)/.installed-bench: $(LOCK)/bench.txt pyproject.toml | $(BIN)/python
	@pkg-config --exists libmariadb 2>/dev/null || { \
	  echo "Installing Debian's libmariadb-dev: mysqlclient, the MySQL row's reference, builds on it"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libmariadb-dev pkg-config \
	    || echo "bench: libmariadb-dev could not be installed: mysqlclient will not build" >&2; }
	$(call install_locked,bench)
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

bench: $(VENV)/.installed-bench
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk \
	    || echo "bench: wrk could not be installed: the API row will say unavailable" >&2; }
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

types: install-dev
	$(BIN)/mypy src

## Refresh the lock from pyproject.toml's ranges, keeping what still fits:
## make lock UPGRADE=duckdb (one package to its newest allowed) or UPGRADE=all (every package)
LOCK_VENV := .venv-lock
UPGRADE ?=
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
  $(if $(filter all,$(UPGRADE)),--upgrade,$(if $(UPGRADE),--upgrade-package $(UPGRADE)))
lock:
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --require-hashes -r $(LOCK)/tools.txt
	$(UV_COMPILE) $(LOCK)/tools.in -o $(LOCK)/tools.txt
	$(UV_COMPILE) pyproject.toml $(LOCK)/build.in --extra dev --extra bench -o $(LOCK)/bench.txt
	$(UV_COMPILE) pyproject.toml $(LOCK)/build.in --extra dev -c $(LOCK)/bench.txt -o $(LOCK)/dev.txt
	$(UV_COMPILE) pyproject.toml $(LOCK)/build.in -c $(LOCK)/bench.txt -o $(LOCK)/run.txt
	$(UV_COMPILE) pyproject.toml $(LOCK)/build.in $(LOCK)/airflow.in --extra airflow -o $(LOCK)/airflow.txt

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(AIRFLOW_VENV) var .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
