# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint types install install-dev bench clean

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
test: lint types
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

types: install-dev
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
