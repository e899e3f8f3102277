"""Runs in the Prefect venv (.venv-prefect), started by test_prefect.py: real Prefect flows against
a temporary local Prefect API (prefect_test_harness) and the test's real manager. Prints one JSON
document: the flow run's state, its result, its log lines and its artifacts.

    python driver.py demo|failure|async JOB       run a flow in this process
    python driver.py cancel JOB                   serve a flow, run it, cancel it from the API
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.testing.utilities import prefect_test_harness

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "prefect"))

from air_executor.client import Client  # noqa: E402
from air_executor.prefect import arun_air_executor_job, run_air_executor_job  # noqa: E402
from demo_flow import air_executor_demo  # noqa: E402

FAILING = [
    {"id": "ok", "command": "true"},
    {"id": "boom", "command": "sh", "args": ["-c", "echo broken >&2; exit 3"], "dependencies": ["ok"]},
    {"id": "never", "command": "true", "dependencies": ["boom"]},
]
SLOW = [
    {"id": "long", "command": "sleep", "args": ["60"]},
    {"id": "after", "command": "true", "dependencies": ["long"]},
]


@flow(name="air-executor-failing")
def failing(job_name: str) -> dict[str, Any]:
    return run_air_executor_job(job_name, FAILING, poll_interval=0.2)


@flow(name="air-executor-async")
async def async_flow(job_name: str) -> dict[str, Any]:
    tasks = [{"id": "a", "command": "echo", "args": ["async"]}, {"id": "b", "command": "true", "dependencies": ["a"]}]
    return await arun_air_executor_job(job_name, tasks, poll_interval=0.2, job_options={"priority": 3})


@flow(name="air-executor-slow")
def slow(job_name: str) -> dict[str, Any]:
    return run_air_executor_job(job_name, SLOW, poll_interval=0.2)


async def describe(flow_run_id: Any, job: str) -> dict[str, Any]:
    from prefect.logging.handlers import APILogHandler

    await APILogHandler.aflush()  # logs reach the API in batches
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
        logs = await client.read_logs()
        artifacts = await client.read_artifacts()
    return {
        "state": run.state.type.value if run.state else None,
        "message": run.state.message if run.state else None,
        "logs": [entry.message for entry in logs if entry.flow_run_id == flow_run_id],
        "artifacts": {a.key: a.data for a in artifacts if a.key},
    }


def run_here(scenario: str, job: str) -> dict[str, Any]:
    if scenario == "demo":
        state = air_executor_demo(job_name=job, return_state=True)
    elif scenario == "failure":
        state = failing(job_name=job, return_state=True)
    else:
        state = asyncio.run(async_flow(job_name=job, return_state=True))
    result = state.result(raise_on_failure=False)
    out = asyncio.run(describe(state.state_details.flow_run_id, job))
    return {**out, "result": result if isinstance(result, dict) else repr(result)}


def run_cancelled(job: str) -> dict[str, Any]:
    """Serve the slow flow in another process (as a Prefect runner does), run it, then cancel the run."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Cancelling

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    server = subprocess.Popen([sys.executable, __file__, "serve", job], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                run = run_deployment("air-executor-slow/slow", parameters={"job_name": job}, timeout=0)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        store = Client()
        while not (store.store.exists(job) and store.state(job)["state"] == "working"):
            if time.monotonic() > deadline:
                raise TimeoutError("the served flow never started the job")
            time.sleep(0.2)

        async def cancel_and_wait() -> None:
            async with get_client() as client:
                await client.set_flow_run_state(run.id, Cancelling(), force=True)
                while (await client.read_flow_run(run.id)).state.type.value not in ("CANCELLED", "FAILED", "CRASHED"):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the flow run was never cancelled")
                    await asyncio.sleep(0.5)

        asyncio.run(cancel_and_wait())
        return asyncio.run(describe(run.id, job))
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    scenario, job = sys.argv[1], sys.argv[2]
    if scenario == "serve":
        slow.serve(name="slow", limit=1)
        return
    with prefect_test_harness():
        out = run_cancelled(job) if scenario == "cancel" else run_here(scenario, job)
    print("RESULT " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
