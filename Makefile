# Air-Executor: `make install`, `make test`, `make demo` (README "Quick start").
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := shared runner manager

.PHONY: install test test-fast test-docker demo lint format images engine clean

install: $(STAMP)

$(STAMP): $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(foreach p,$(PACKAGES),-e ./$(p)) -e './manager[docker]' -r requirements-dev.txt
	touch $(STAMP)

test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not docker and not slow"

demo: install
	deploy/demo/run-demo.sh

lint: install
	$(BIN)/ruff check shared manager runner tests
	$(BIN)/ruff format --check shared manager runner tests
	$(BIN)/mypy shared/air_executor manager/air_executor_manager runner/air_executor_runner

format: install
	$(BIN)/ruff format shared manager runner tests
	$(BIN)/ruff check --fix shared manager runner tests

clean:
	rm -rf $(VENV) .pytest_cache
