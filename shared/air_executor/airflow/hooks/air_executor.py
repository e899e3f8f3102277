"""AirExecutorHook: create Air-Executor jobs and read their files, through the project's own library.

Everything goes through `air_executor.client` and `FileStore`, so Airflow takes
the same job lock and writes the same atomic files as the CLI and the manager.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from air_executor.client import cancel_job, create_job
from air_executor.report import (  # noqa: F401  (job_results, progress_lines and failure_message: re-exported)
    failure_message,
    format_results,
    job_results,
    progress_lines,
    summarise,
)
from air_executor.storage.file_store import BASE_ENV, DEFAULT_BASE, FileStore


class AirExecutorHook(BaseHook):
    """Air-Executor's base folder (the shared `.air-executor` volume) seen from Airflow.

    The base path comes from, in this order: the `base_path` argument; the
    connection `air_executor_conn_id` (its extra `base_path`, else its host);
    `$AIR_EXECUTOR_BASE_PATH`; `.air-executor` in the working directory.

    :param air_executor_conn_id: an Airflow connection of type `air_executor` (optional)
    :param base_path: the base folder, e.g. `/data/.air-executor` (optional)
    """

    conn_name_attr = "air_executor_conn_id"
    default_conn_name = "air_executor_default"
    conn_type = "air_executor"
    hook_name = "Air-Executor"

    def __init__(
        self,
        air_executor_conn_id: str | None = None,
        base_path: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.air_executor_conn_id = air_executor_conn_id
        self._base_path = os.fspath(base_path) if base_path else None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "password", "port"],
            "relabeling": {"host": "Base path"},
            "placeholders": {"host": "/data/.air-executor", "extra": '{"base_path": "/data/.air-executor"}'},
        }

    @cached_property
    def base_path(self) -> str:
        """The resolved base folder (see the class docstring for the order)."""
        if self._base_path:
            return self._base_path
        if self.air_executor_conn_id:
            conn = self.get_connection(self.air_executor_conn_id)
            path = conn.extra_dejson.get("base_path") or conn.host
            if not path:
                raise ValueError(
                    f"connection {self.air_executor_conn_id!r} has no base path: set its host or extra 'base_path'"
                )
            return str(path)
        return os.environ.get(BASE_ENV) or DEFAULT_BASE

    @cached_property
    def store(self) -> FileStore:
        return FileStore(self.base_path)

    def get_conn(self) -> FileStore:
        return self.store

    # -- writing -------------------------------------------------------------------------

    def create_job(self, job_name: str, tasks: Sequence[Mapping[str, Any]], **options: Any) -> dict[str, Any]:
        """Create a job (state `waiting`, every task `pending`) under its lock; returns its state document."""
        return create_job(self.store, job_name, [dict(t) for t in tasks], **options)

    def job_exists(self, job_name: str) -> bool:
        return self.store.exists(job_name)

    def cancel_job(self, job_name: str) -> None:
        """Cancel a job: pending tasks now, running ones when the manager stops their runners."""
        cancel_job(self.store, job_name)

    # -- reading -------------------------------------------------------------------------

    def get_state(self, job_name: str) -> dict[str, Any]:
        return self.store.read_state(job_name)

    def get_tasks(self, job_name: str) -> list[dict[str, Any]]:
        return self.store.read_tasks(job_name)

    def read(self, job_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A snapshot of the job: (state document, task list); tasks are empty until `tasks.json` exists."""
        state = self.get_state(job_name)
        tasks = self.get_tasks(job_name) if (self.store.job_dir(job_name) / "tasks.json").exists() else []
        return state, tasks

    def summary(self, job_name: str) -> dict[str, Any]:
        """`{job_name, state, total_tasks, completed, failed, pending, running, ...}`."""
        return summarise(*self.read(job_name))

    def results(self, job_name: str) -> dict[str, Any]:
        """What the operator and sensor push to XCom: state, summary and each task's outcome."""
        return job_results(*self.read(job_name))

    def format_results(self, job_name: str) -> str:
        """The seeds' formatted results report."""
        return format_results(*self.read(job_name))

    def test_connection(self) -> tuple[bool, str]:
        jobs = self.store.jobs_path
        if not jobs.is_dir():
            return False, f"{jobs} does not exist (is the Air-Executor volume mounted?)"
        if not os.access(jobs, os.W_OK | os.X_OK):
            return False, f"{jobs} is not writable by uid {os.getuid()}"
        return True, f"{jobs} is writable ({len(self.store.list_job_names())} jobs)"
