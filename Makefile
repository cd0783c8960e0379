# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint types install install-dev bench clean chromium

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "xdm-connector needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Prepare the demo and serve the API with an embedded worker at http://127.0.0.1:8080
run: install
	$(BIN)/xdm-connector demo
	exec $(BIN)/xdm-connector serve

## Lint, types, and every test (unit, integration on SQLite and PostgreSQL, end to end)
test: lint types chromium
	$(BIN)/pytest -n 2 --dist loadfile

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
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]' \
	  || { echo "bench: dlt could not be installed: its row will say unavailable" >&2; \
	       $(BIN)/python -m pip install --quiet -e '.[dev]'; }
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

types: install-dev
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
