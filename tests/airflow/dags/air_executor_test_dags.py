"""Test-only DAGs: the provider's operator and sensor in each of their modes.

The unit tests run them with `dag.test()`; the end-to-end tests mount this folder
into the compose stack's Airflow to show that a failing job fails its DAG run.
Every wait is bounded, so a broken run fails instead of hanging. Each DAG takes the job
through params (the test passes them as the run's conf): `job_name` and `tasks`. The base
folder is `$AIR_EXECUTOR_BASE_PATH`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from air_executor.airflow.operators.air_executor import AirExecutorOperator
from air_executor.airflow.sensors.air_executor import AirExecutorSensor
from airflow.sdk import DAG

DEFAULT_TASKS = [{"id": "hello", "command": "echo", "args": ["hello from a test DAG"]}]

# dag id -> AirExecutorOperator arguments
OPERATORS: dict[str, dict[str, Any]] = {
    "ae_test_operator_deferrable": {"wait_timeout": 90},
    "ae_test_operator_in_worker": {"deferrable": False, "wait_timeout": 90},
    "ae_test_operator_submit_only": {"wait_for_completion": False},
    "ae_test_operator_wait_timeout": {"wait_timeout": 2},
    "ae_test_operator_if_exists_fail": {"if_exists": "fail", "wait_timeout": 90},
    "ae_test_operator_scheduled": {
        "wait_for_completion": False,
        "job_options": {"priority": 7, "not_before": "{{ dag_run.conf['not_before'] }}"},
    },
}

# dag id -> AirExecutorSensor arguments
SENSORS: dict[str, dict[str, Any]] = {
    "ae_test_sensor_poke": {"mode": "poke", "timeout": 90},
    "ae_test_sensor_reschedule": {"mode": "reschedule", "timeout": 90},
    "ae_test_sensor_deferrable": {"deferrable": True, "timeout": 90},
    "ae_test_sensor_poke_timeout": {"mode": "poke", "timeout": 2},
    "ae_test_sensor_reschedule_timeout": {"mode": "reschedule", "timeout": 2},
    "ae_test_sensor_deferrable_timeout": {"deferrable": True, "timeout": 2},
    "ae_test_sensor_lenient": {"mode": "poke", "timeout": 90, "fail_on_job_failure": False},
}


def make_dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["air-executor", "test"],
        params={"job_name": "ae-test", "tasks": DEFAULT_TASKS},
        # `{{ params.tasks }}` renders to the list itself, not its text.
        render_template_as_native_obj=True,
        # One quick retry: tests tell failures that are retried from those that are final.
        default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    )


for dag_id, arguments in OPERATORS.items():
    with make_dag(dag_id):
        AirExecutorOperator(
            task_id="run_job",
            job_name="{{ params.job_name }}",
            tasks="{{ params.tasks }}",  # type: ignore[arg-type]
            poll_interval=0.5,
            **arguments,
        )

for dag_id, arguments in SENSORS.items():
    with make_dag(dag_id):
        AirExecutorSensor(task_id="wait_for_job", job_name="{{ params.job_name }}", poke_interval=0.5, **arguments)
