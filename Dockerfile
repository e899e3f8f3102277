# Four images from one file: `--target runner`, `--target manager`, `--target airflow` and
# `--target dashboard`. Versions come from requirements.lock (as for `make install`).
#
# On an ordinary host `docker compose up --build` just works: the base is a
# public Python image and packages come from PyPI. On a host without a registry
# (see README "Building images offline"), `make images` passes a locally built
# BASE_IMAGE and PIP_INSTALL_ARGS that point pip at deploy/wheels/.
ARG BASE_IMAGE=python:3.11-slim
# Every stage carries an `air-executor.image` label, so `make images` can prune the layers
# its rebuilds leave dangling without touching anyone else's images.

# ---- build stages: a virtual environment each, so sources and wheels stay behind
FROM ${BASE_IMAGE} AS build-base
LABEL air-executor.image=build-base
ARG PIP_INSTALL_ARGS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY deploy/wheels/ /wheels/
COPY requirements.lock /src/requirements.lock
COPY shared/ /src/shared/
RUN python3 -m venv /opt/venv

# The dashboard comes first after the shared base: the legacy builder (`docker build`) builds every
# stage before its target, and the dashboard needs neither the runner, the manager nor Airflow.
FROM build-base AS build-dashboard
LABEL air-executor.image=build-dashboard
ARG PIP_INSTALL_ARGS=""
RUN /opt/venv/bin/pip install ${PIP_INSTALL_ARGS} -c /src/requirements.lock "/src/shared[dashboard]" \
 && /opt/venv/bin/pip uninstall -y -q setuptools wheel

# ---- the web dashboard (README "Dashboard"): reads the shared volume, never holds the Docker
# socket. It runs as root only to act on job folders of any owner (cancel, retry) under the
# job lock, with every capability dropped but those (compose adds them back, see there).
FROM ${BASE_IMAGE} AS dashboard
LABEL air-executor.image=dashboard
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    AIR_EXECUTOR_BASE_PATH=/data/.air-executor
COPY --from=build-dashboard /opt/venv /opt/venv
VOLUME ["/data"]
WORKDIR /data
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["air-executor", "dashboard", "--check"]
CMD ["air-executor", "dashboard", "--host", "0.0.0.0", "--port", "8090"]

FROM build-base AS build-runner
LABEL air-executor.image=build-runner
ARG PIP_INSTALL_ARGS=""
COPY runner/ /src/runner/
# setuptools' .pth hook would cost every runner start a few milliseconds: it goes.
RUN /opt/venv/bin/pip install ${PIP_INSTALL_ARGS} -c /src/requirements.lock /src/shared /src/runner \
 && /opt/venv/bin/pip uninstall -y -q setuptools wheel

FROM build-base AS build-manager
LABEL air-executor.image=build-manager
ARG PIP_INSTALL_ARGS=""
COPY runner/ /src/runner/
COPY manager/ /src/manager/
RUN /opt/venv/bin/pip install ${PIP_INSTALL_ARGS} -c /src/requirements.lock /src/shared /src/runner "/src/manager[docker]" supervisor

# Airflow's ~130 packages go in a layer of their own, before the project's sources, so that
# editing Air-Executor does not reinstall Airflow. Versions are pinned by the constraints file
# (Airflow's published one cannot be fetched on every host; see the file's header).
FROM ${BASE_IMAGE} AS build-airflow
LABEL air-executor.image=build-airflow
ARG PIP_INSTALL_ARGS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY deploy/wheels/ /wheels/
COPY deploy/airflow/constraints-3.3.2.txt /src/airflow-constraints.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install ${PIP_INSTALL_ARGS} -c /src/airflow-constraints.txt apache-airflow==3.3.2
COPY requirements.lock /src/requirements.lock
COPY shared/ /src/shared/
RUN /opt/venv/bin/pip install ${PIP_INSTALL_ARGS} -c /src/airflow-constraints.txt -c /src/requirements.lock "/src/shared[airflow]"

# ---- the runner: executes one task and exits. No Docker SDK, no socket, not root.
FROM ${BASE_IMAGE} AS runner
LABEL air-executor.image=runner
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
COPY --from=build-runner /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["python", "-m", "air_executor_runner"]
CMD ["--version"]

# ---- the manager: supervisor runs the manager and its health endpoint.
FROM ${BASE_IMAGE} AS manager
LABEL air-executor.image=manager
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    AIR_EXECUTOR_BASE_PATH=/data/.air-executor \
    AIR_EXECUTOR_LAUNCHER=auto \
    AIR_EXECUTOR_LOG_FORMAT=text
COPY --from=build-manager /opt/venv /opt/venv
COPY deploy/manager/supervisord.conf /etc/air-executor/supervisord.conf
RUN mkdir -p /data/.air-executor
VOLUME ["/data"]
WORKDIR /data
# supervisord stops its programs on SIGTERM; the manager leaves runners running.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-m", "air_executor_manager.health", "--check"]
CMD ["supervisord", "-c", "/etc/air-executor/supervisord.conf"]

# ---- Apache Airflow 3 with the Air-Executor provider (`air-executor[airflow]`), for the demo DAG.
# Runs as uid 10001, the runners' default user, so job folders it writes are the runners' own.
FROM ${BASE_IMAGE} AS airflow
LABEL air-executor.image=airflow
ARG AIRFLOW_UID=10001
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=/opt/airflow/simple_auth_manager_passwords.json \
    AIR_EXECUTOR_BASE_PATH=/data/.air-executor \
    USER=airflow
COPY --from=build-airflow /opt/venv /opt/venv
COPY deploy/airflow/entrypoint.sh /usr/local/bin/air-executor-airflow
RUN groupadd --gid "$AIRFLOW_UID" airflow \
 && useradd --uid "$AIRFLOW_UID" --gid "$AIRFLOW_UID" --home-dir /opt/airflow --shell /usr/sbin/nologin airflow \
 && mkdir -p /opt/airflow/dags /opt/airflow/logs /data/.air-executor/jobs \
 && chown -R airflow:airflow /opt/airflow /data/.air-executor/jobs
USER airflow
WORKDIR /opt/airflow
EXPOSE 8080
# `airflow standalone` stops its components on SIGINT (KeyboardInterrupt); as PID 1 it would
# ignore SIGTERM, and `docker compose stop` would wait out its grace period and kill it.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/air-executor-airflow"]
CMD ["standalone"]
