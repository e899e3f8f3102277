"""The seeds' demo job (greet, sleep 3, complete) as a Prefect 3 flow (README "Prefect").

    pip install 'air-executor[prefect]'
    air-executor start                       # a manager on the same base folder
    python deploy/prefect/demo_flow.py       # or serve / deploy it like any flow

The flow submits the job to `$AIR_EXECUTOR_BASE_PATH` (default `.air-executor`), streams its
progress into the Prefect run's log, keeps the results report as a markdown artifact and fails if
the job fails; cancelling the flow run cancels the job.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from air_executor.prefect import run_air_executor_job
from prefect import flow

DEMO_TASKS = [
    {"id": "greet", "command": "echo", "args": ["Hello from Air-Executor!"]},
    {"id": "process", "command": "sleep", "args": ["3"], "dependencies": ["greet"]},
    {
        "id": "complete",
        "command": "echo",
        "args": ["Air-Executor job completed successfully!"],
        "dependencies": ["process"],
    },
]


@flow(name="air-executor-demo", log_prints=True)
def air_executor_demo(job_name: str | None = None, tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run the demo job (or `tasks`) on Air-Executor and return its results."""
    name = job_name or f"prefect-demo-{time.strftime('%Y%m%d-%H%M%S')}"
    results = run_air_executor_job(name, tasks or DEMO_TASKS, poll_interval=0.5)
    print(f"Job {results['job_name']} {results['state']}: {results['summary']['completed']} task(s) completed")
    return results


if __name__ == "__main__":
    air_executor_demo(job_name=sys.argv[1] if len(sys.argv) > 1 else None)
