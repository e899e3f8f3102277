# Air-Executor: `make install`, `make test`, `make demo` (README "Quick start").
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := shared runner manager

.PHONY: install test test-fast test-docker test-airflow demo bench lint format images engine chromium compose-up compose-down clean

# Editable installs leave our modules uncompiled, and with PYTHONDONTWRITEBYTECODE set each
# runner would compile them again on every task: compile them here (cheap when up to date).
install: $(STAMP)
	@$(BIN)/python -m compileall -q shared/air_executor runner/air_executor_runner manager/air_executor_manager

$(STAMP): $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt deploy/airflow/constraints-3.3.2.txt deploy/dev/ensure-venv.sh
	deploy/dev/ensure-venv.sh $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(foreach p,$(PACKAGES),-e ./$(p)) -e './manager[docker]' -r requirements-dev.txt
	touch $(STAMP)

# Everything: unit, process, Docker, compose and browser tests. Installs and starts a Docker
# engine first when none answers (as root on Debian), builds the images, and installs
# Debian's Chromium for the dashboard's browser tests.
test: install images chromium
	$(BIN)/pytest

test-docker: install images
	$(BIN)/pytest -m docker

# The Airflow provider, the demo DAG and the compose stack with Airflow (README "Airflow").
test-airflow: install images
	$(BIN)/pytest tests/airflow

engine:
	deploy/docker/ensure-engine.sh

chromium:
	deploy/dev/ensure-chromium.sh

images: engine
	deploy/docker/build-images.sh

compose-up: images
	docker compose --env-file deploy/.build.env up -d --build --wait

compose-down:
	docker compose --env-file deploy/.build.env down -v

test-fast: install chromium
	$(BIN)/pytest -m "not docker and not slow"

demo: install
	deploy/demo/run-demo.sh

# Figures against raw baselines measured in the same run: bench/results/latest.{json,md,png}.
bench: install images
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check shared manager runner tests bench deploy/airflow/dags
	$(BIN)/ruff format --check shared manager runner tests bench deploy/airflow/dags
	$(BIN)/mypy shared/air_executor manager/air_executor_manager runner/air_executor_runner deploy/airflow/dags

format: install
	$(BIN)/ruff format shared manager runner tests deploy/airflow/dags
	$(BIN)/ruff check --fix shared manager runner tests deploy/airflow/dags

clean:
	rm -rf $(VENV) .pytest_cache
