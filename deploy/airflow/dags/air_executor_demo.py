"""Demo: Airflow orchestrating Air-Executor jobs (the seeds' `air_executor_demo`).

create_air_executor_job >> wait_for_air_executor_completion >> get_air_executor_results

1. `create_air_executor_job` writes the job `airflow-<run id>` (greet, then `sleep 3`,
   then complete) into the Air-Executor volume and returns its name.
2. The manager, running separately, picks it up and runs each task in a runner.
3. `wait_for_air_executor_completion` reads the job's files every 2 s, logging
   `Job ... state: working` / `Tasks: 2/3 completed`, for at most 5 minutes.
4. `get_air_executor_results` prints the results report and fails if the job failed.

Settings, as Airflow Variables (or environment variables `AIRFLOW_VAR_<NAME>`):
`air_executor_demo_poke_interval` (seconds, default 2) and `air_executor_demo_timeout`
(seconds, default 300). The base folder is `$AIR_EXECUTOR_BASE_PATH`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from air_executor.airflow.hooks.air_executor import AirExecutorHook
from air_executor.airflow.operators.air_executor import AirExecutorOperator
from air_executor.airflow.sensors.air_executor import AirExecutorSensor
from air_executor.storage.names import sanitise
from airflow.sdk import DAG, Variable, task
from airflow.sdk.exceptions import AirflowFailException


def setting(name: str, default: float) -> float:
    """A number from the Airflow Variable `name` (or `AIRFLOW_VAR_<NAME>`), else `default`."""
    try:
        return float(Variable.get(name, default=default))
    except (ValueError, TypeError):
        return default


with DAG(
    dag_id="air_executor_demo",
    description="Demo: Airflow orchestrating Air-Executor jobs",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["air-executor", "demo", "integration"],
    user_defined_filters={"sanitise": sanitise},
    default_args={"owner": "air-executor", "retries": 0},
) as dag:
    create_job = AirExecutorOperator(
        task_id="create_air_executor_job",
        job_name="{{ ('airflow-' ~ run_id) | sanitise }}",
        tasks=[
            {"id": "greet", "command": "echo", "args": ["Hello from Airflow DAG run: {{ run_id }}"]},
            {"id": "process", "command": "sleep", "args": ["3"], "dependencies": ["greet"]},
            {
                "id": "complete",
                "command": "echo",
                "args": ["Air-Executor job completed successfully!"],
                "dependencies": ["process"],
            },
        ],
        wait_for_completion=False,
    )

    wait_for_job = AirExecutorSensor(
        task_id="wait_for_air_executor_completion",
        job_name="{{ ti.xcom_pull(task_ids='create_air_executor_job') }}",
        mode="poke",
        poke_interval=setting("air_executor_demo_poke_interval", 2),
        timeout=setting("air_executor_demo_timeout", 300),
        # Succeed on any finished job: the next task prints the report and gives the verdict.
        fail_on_job_failure=False,
    )

    @task
    def get_air_executor_results(ti: Any = None) -> dict[str, Any]:
        """Print the formatted results; fail the Airflow task if the job did not complete."""
        job_name = ti.xcom_pull(task_ids="create_air_executor_job")
        hook = AirExecutorHook()
        print(hook.format_results(job_name))
        results = hook.results(job_name)
        if results["state"] != "completed":
            raise AirflowFailException(f"Air-Executor job {job_name} {results['state']}: {results['error']}")
        return results

    create_job >> wait_for_job >> get_air_executor_results()
