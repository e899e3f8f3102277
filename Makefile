# Air-Executor: `make install`, `make test`, `make demo` (README "Quick start").
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := shared runner manager
# pip's output goes to $(VENV)/install.log, shown only when a step fails.
QUIETLY := deploy/dev/quietly.sh $(VENV)/install.log

.PHONY: install lock prefect test test-fast test-docker test-airflow demo bench bench-airflow lint format images engine chromium compose-up compose-down clean

# Editable installs leave our modules uncompiled, and with PYTHONDONTWRITEBYTECODE set each
# runner would compile them again on every task: compile them here (cheap when up to date).
install: $(STAMP)
	@$(BIN)/python -m compileall -q shared/air_executor runner/air_executor_runner manager/air_executor_manager

$(STAMP): $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements.lock deploy/dev/ensure-venv.sh
	@deploy/dev/ensure-venv.sh $(VENV)
	@rm -f $(VENV)/install.log
	@$(QUIETLY) $(BIN)/pip install --upgrade pip
	@$(QUIETLY) $(BIN)/pip install -r requirements.lock
	@$(QUIETLY) $(BIN)/pip install --no-deps $(foreach p,$(PACKAGES),-e ./$(p))
	@touch $(STAMP)

# Everything: unit, process, Docker, compose and browser tests. Installs and starts a Docker
# engine first when none answers (as root on Debian), builds the images, and installs
# Debian's Chromium for the dashboard's browser tests.
test: install images chromium prefect
	$(BIN)/pytest

test-docker: install images
	$(BIN)/pytest -m docker

# The Airflow provider, the demo DAG and the compose stack with Airflow (README "Airflow").
test-airflow: install images
	$(BIN)/pytest tests/airflow

# requirements.lock pins every package make install, CI and the images install: resolved by uv
# from requirements.in (our three packages with their extras, the test tools, supervisor) under
# Airflow's constraints. Run after changing a dependency, and commit the result.
lock: install
	$(BIN)/uv pip compile --quiet --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	  --annotation-style line --no-emit-package air-executor --no-emit-package air-executor-runner \
	  --no-emit-package air-executor-manager requirements.in -o requirements.lock

engine:
	deploy/docker/ensure-engine.sh

chromium:
	deploy/dev/ensure-chromium.sh

# Prefect 3 in its own venv (.venv-prefect) for tests/prefect: its pins clash with Airflow's.
prefect:
	@deploy/dev/ensure-prefect.sh >/dev/null

images: engine
	deploy/docker/build-images.sh

compose-up: images
	docker compose --env-file deploy/.build.env up -d --build --wait

compose-down:
	docker compose --env-file deploy/.build.env down -v

test-fast: install chromium prefect
	$(BIN)/pytest -m "not docker and not slow"

demo: install
	deploy/demo/run-demo.sh

# Figures against raw baselines measured in the same run: bench/results/latest.{json,md,png}.
bench: install images
	$(BIN)/python bench/run.py

# The dispatch chains beside the same chains on Apache Airflow 3 (BashOperator, DockerOperator),
# installed into its own venv under ~/.cache/air-executor/bench-airflow on first use.
bench-airflow: install images
	deploy/dev/ensure-bench-airflow.sh >/dev/null
	$(BIN)/python bench/run.py --only airflow

lint: install
	$(BIN)/ruff check shared manager runner tests bench deploy/airflow/dags deploy/prefect
	$(BIN)/ruff format --check shared manager runner tests bench deploy/airflow/dags deploy/prefect
	$(BIN)/mypy shared/air_executor manager/air_executor_manager runner/air_executor_runner deploy/airflow/dags

format: install
	$(BIN)/ruff format shared manager runner tests deploy/airflow/dags
	$(BIN)/ruff check --fix shared manager runner tests deploy/airflow/dags

clean:
	rm -rf $(VENV) .pytest_cache
