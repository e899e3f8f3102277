"""Prefect 3 tasks that run an Air-Executor job (extra `air-executor[prefect]`; README "Prefect").

    from prefect import flow
    from air_executor.prefect import run_air_executor_job

    @flow
    def nightly():
        results = run_air_executor_job("nightly", tasks=[{"id": "build", "command": "make"}])

`run_air_executor_job` submits a job (or attaches to one that exists), streams its progress into
the Prefect run logger, saves the results report as a markdown artifact and returns the results;
the Prefect task fails when the job does not complete, and the job is cancelled when the Prefect
run is (cancelled, killed or interrupted while it waits). `arun_air_executor_job` is the same for
async flows.
"""

from air_executor.prefect.tasks import AirExecutorJobFailed, arun_air_executor_job, run_air_executor_job

__all__ = ["AirExecutorJobFailed", "arun_air_executor_job", "run_air_executor_job"]
