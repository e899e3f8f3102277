"""AirExecutor: an Airflow 3 executor that runs every task-instance try as an Air-Executor runner.

`[core] executor = air_executor.airflow.executors.air_executor.AirExecutor`. Each ExecuteTask
workload becomes one task of the DAG run's job (naming.py), whose command is Airflow's own
workload entry point (`python -m airflow.sdk.execution_time.execute_workload --json-string ...`):
the runner talks to the API server's execution API and never to Airflow's database. Airflow
keeps the brain (dependencies, retries, pools, priorities); Air-Executor's retries stay off,
so a try runs once, and a runner lost is a failed try that Airflow retries by its own rules.

State comes back from the job files: an inotify watch on the jobs folder marks the jobs that
changed, and each scheduler heartbeat (`sync`) reads only those (with a read of every tracked
job now and then, in case an event was missed). Settings, all optional, in `[air_executor]`
(or `AIRFLOW__AIR_EXECUTOR__<NAME>`): `base_path`, `python`, `image`,
`execution_api_server_url`, `runner_env` (JSON), `max_parallel`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.executors import workloads
from airflow.executors.base_executor import BaseExecutor, get_execution_api_server_url
from airflow.utils.state import TaskInstanceState

from air_executor.airflow.executors import naming
from air_executor.client import add_tasks, cancel_pending_task, create_job
from air_executor.core import lifecycle
from air_executor.errors import AirExecutorError, JobExists, JobNotFound
from air_executor.storage.file_store import BASE_ENV, DEFAULT_BASE, FileStore

if TYPE_CHECKING:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancekey import TaskInstanceKey
    from sqlalchemy.orm import Session

SECTION = "air_executor"
ENTRY_POINT = "airflow.sdk.execution_time.execute_workload"
FULL_READ_EVERY = 10.0  # seconds: read every tracked job even without an event (a missed one costs no more)
LOG_LIMIT = 8 << 20


class Tracked:
    """One try this executor started (or adopted): its job, task and what Airflow was last told."""

    def __init__(self, job: str, task: str, base: str, log_path: str | None) -> None:
        self.job, self.task, self.base, self.log_path = job, task, base, log_path
        self.reported: str | None = None


class AirExecutor(BaseExecutor):
    """Runs each Airflow task-instance try as one Air-Executor task (see the module docstring)."""

    supports_ad_hoc_ti_run: bool = True
    supports_callbacks: bool = False
    supports_multi_team: bool = False
    supports_connection_test: bool = False
    # The runners run on this host (processes, or containers of this host's engine); it also keeps
    # `airflow standalone` (the compose stack) from swapping this executor for the LocalExecutor.
    is_local: bool = True
    is_production: bool = True
    serve_logs: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        base = conf.get(SECTION, "base_path", fallback=None) or os.environ.get(BASE_ENV) or DEFAULT_BASE
        self.store = FileStore(base)
        self.tracked: dict[TaskInstanceKey, Tracked] = {}
        self.watcher: Any = None
        self.dirty: set[str] = set()
        self.last_full_read = 0.0

    # -- settings ------------------------------------------------------------------------

    def _setting(self, name: str, fallback: str | None = None) -> str | None:
        return conf.get(SECTION, name, fallback=fallback) or fallback

    def runner_env(self) -> dict[str, str]:
        """What each runner's environment gets: where the execution API is, where the DAGs are."""
        env = {
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": self._setting("execution_api_server_url")
            or get_execution_api_server_url(),
            "AIRFLOW__CORE__DAGS_FOLDER": conf.get("core", "dags_folder"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": conf.get("core", "load_examples"),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": conf.get("dag_processor", "dag_bundle_config_list"),
        }
        extra = self._setting("runner_env")
        if extra:
            parsed = json.loads(extra)
            if not isinstance(parsed, dict):
                raise ValueError(f"[{SECTION}] runner_env must be a JSON object of names to strings")
            env.update({str(k): str(v) for k, v in parsed.items()})
        return env

    def max_parallel(self) -> int:
        """The job's max_parallel: Airflow's parallelism for this executor, within the job limit (50)."""
        value = self._setting("max_parallel")
        return max(1, min(50, int(value) if value else self.parallelism))

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Watch the jobs folder (inotify); without it every heartbeat reads the tracked jobs."""
        self.runner_env()  # a bad runner_env fails the scheduler's start, in one line
        self._watch()

    def _watch(self) -> None:
        from air_executor.dashboard.watch import JobWatcher

        if self.watcher is not None or not self.store.jobs_path.is_dir():
            return
        watcher = JobWatcher(str(self.store.jobs_path), self.dirty.update, lambda grown: None)
        if watcher.start():
            self.watcher = watcher
            for tracked in self.tracked.values():
                watcher.watch_job(tracked.job)

    def end(self) -> None:
        """The scheduler stops: report what ended; runners keep running for the next scheduler to adopt."""
        self.sync()
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None

    def terminate(self) -> None:
        """SIGTERM: like `end`; a try's runner ends by Airflow's own heartbeat if its try is stopped."""
        self.end()

    # -- queuing ---------------------------------------------------------------------------

    def queue_workload(self, workload: workloads.All, session: Session) -> None:  # type: ignore[override]
        if not isinstance(workload, workloads.ExecuteTask):
            raise ValueError(f"AirExecutor runs task workloads only, not {type(workload).__name__}")
        super().queue_workload(workload, session)

    def _process_workloads(self, workload_items: Sequence[Any]) -> None:
        by_job: dict[str, list[workloads.ExecuteTask]] = {}
        for workload in workload_items:
            self.queued_tasks.pop(workload.key, None)
            by_job.setdefault(naming.job_name(workload.ti.dag_id, workload.ti.run_id), []).append(workload)
        for job, items in by_job.items():
            self._submit(job, items)

    def _submit(self, job: str, items: list[workloads.ExecuteTask]) -> None:
        """Queue the tries of one DAG run as tasks of its job (created by the first of them)."""
        taken = self._task_ids(job)
        specs: list[dict[str, Any]] = []
        ready: list[tuple[workloads.ExecuteTask, str]] = []
        for workload in items:
            try:
                spec = self._task_spec(workload, taken)
            except (AirExecutorError, ValueError) as exc:
                self._refuse(workload.key, str(exc))
                continue
            taken.add(spec["id"])
            specs.append(spec)
            ready.append((workload, spec["id"]))
        if not specs:
            return
        try:
            try:
                create_job(self.store, job, specs, max_parallel=self.max_parallel())
            except JobExists:
                add_tasks(self.store, job, specs, reopen_failed=True)
        except AirExecutorError as exc:
            for workload, _ in ready:
                self._refuse(workload.key, f"cannot queue it in Air-Executor job {job}: {exc}")
            return
        self._watch()
        for workload, task in ready:
            base = naming.try_id(workload.ti.task_id, _map_index(workload.ti), workload.ti.try_number)
            self.tracked[workload.key] = Tracked(job, task, base, workload.log_path)
            self.running.add(workload.key)
            # Airflow keeps this as the try's external_executor_id: adoption finds the runner by it.
            self.change_state(
                workload.key, TaskInstanceState.QUEUED, naming.external_id(job, task), remove_running=False
            )
            if self.watcher is not None:
                self.watcher.watch_job(job)

    def _task_ids(self, job: str) -> set[str]:
        try:
            return {str(t.get("id")) for t in self.store.read_tasks(job)}
        except JobNotFound:
            return set()

    def _task_spec(self, workload: workloads.ExecuteTask, taken: set[str]) -> dict[str, Any]:
        ti = workload.ti
        base = naming.try_id(ti.task_id, _map_index(ti), ti.try_number)
        number = 1
        while naming.segment_id(base, number) in taken:
            number += 1
        # The runner's stdout is the try's log (the job's log file): no Airflow log folder there.
        payload = workload.model_copy(update={"log_path": None}).model_dump_json()
        spec: dict[str, Any] = {
            **naming.config_fields(ti.executor_config),
            "id": naming.segment_id(base, number),
            "command": self._setting("python") or sys.executable,
            "args": ["-m", ENTRY_POINT, "--json-string", payload],
            "env": self.runner_env(),
            "retries": 0,  # Airflow retries a try by its own rules; a try runs once here
            "priority": naming.priority(ti.priority_weight),
        }
        image = self._setting("image")
        if image and "image" not in spec:
            spec["image"] = image
        return spec

    def _refuse(self, key: TaskInstanceKey, message: str) -> None:
        self.log.error("AirExecutor refused %s: %s", key, message)
        self.fail(key, info=message)

    # -- state back --------------------------------------------------------------------------

    def sync(self) -> None:
        """Tell Airflow what changed in the jobs whose files moved since the last heartbeat."""
        if not self.tracked:
            return
        self._watch()
        if self.watcher is not None:
            self.watcher.read()
        now = time.monotonic()
        jobs = {t.job for t in self.tracked.values()}
        from air_executor.dashboard.watch import ALL

        if (
            self.watcher is None
            or not self.watcher.reliable
            or ALL in self.dirty
            or now - self.last_full_read > FULL_READ_EVERY
        ):
            self.last_full_read, wanted = now, jobs
        else:
            wanted = jobs & self.dirty
        self.dirty.clear()
        for job in wanted:
            self._read_job(job)

    def _read_job(self, job: str) -> None:
        keys = [key for key, t in self.tracked.items() if t.job == job]
        try:
            tasks = {str(t.get("id")): t for t in self.store.read_tasks(job)}
        except JobNotFound:
            tasks = {}
        except AirExecutorError as exc:
            self.log.warning("Cannot read Air-Executor job %s yet: %s", job, exc)
            return
        for key in keys:
            tracked = self.tracked[key]
            task = tasks.get(tracked.task)
            if task is None:
                self._finish(key, TaskInstanceState.FAILED, f"Air-Executor job {job} has no task {tracked.task}")
            else:
                self._report(key, tracked, task)

    def _report(self, key: TaskInstanceKey, tracked: Tracked, task: dict[str, Any]) -> None:
        status = task.get("status")
        if status == lifecycle.RUNNING and tracked.reported is None:
            tracked.reported = status
            self.running_state(key, naming.external_id(tracked.job, tracked.task))
        elif status == lifecycle.COMPLETED:
            self._finish(key, TaskInstanceState.SUCCESS, None)
        elif status in lifecycle.TASK_DONE:
            error = task.get("error") or status
            self._finish(key, TaskInstanceState.FAILED, f"Air-Executor task {tracked.task}: {error}")

    def _finish(self, key: TaskInstanceKey, state: TaskInstanceState, info: str | None) -> None:
        tracked = self.tracked.pop(key)
        if info:
            self.log.info("%s ended: %s", key, info)
        self._keep_log(tracked)
        self.change_state(key, state, info)

    def _keep_log(self, tracked: Tracked) -> None:
        """Copy an ended try's log where Airflow's log reader looks for finished tries, if nothing is there."""
        if not tracked.log_path:
            return
        target = Path(conf.get("logging", "base_log_folder")) / tracked.log_path
        if target.exists():
            return
        text = self._read_log(tracked.job, tracked.base)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.log.warning("Cannot keep the log of %s/%s in %s: %s", tracked.job, tracked.task, target, exc)

    # -- logs, revoke, adoption --------------------------------------------------------------

    def _read_log(self, job: str, base: str) -> str:
        """Every segment of one try (before and after a deferral), in order."""
        try:
            ids = [str(t.get("id")) for t in self.store.read_tasks(job)]
        except AirExecutorError:
            return ""
        parts = []
        for task in (t for t in ids if naming.is_segment_of(t, base)):
            data, _ = self.store.read_log(job, task, last=LOG_LIMIT)
            parts.append(data.decode("utf-8", "replace"))
        return "".join(parts)

    def get_task_log(self, ti: TaskInstance, try_number: int) -> tuple[list[str], list[str]]:
        """A running try's log, read from its Air-Executor job's log files (no Airflow log server)."""
        job = naming.job_name(ti.dag_id, ti.run_id)
        base = naming.try_id(ti.task_id, _map_index(ti), try_number)
        text = self._read_log(job, base)
        if not text:
            return [], []
        return [f"Air-Executor job {job}, task {base} ({self.store.job_dir(job) / 'logs'})"], [text]

    def revoke_task(self, *, ti: TaskInstance) -> None:
        """Forget a try Airflow takes back; a task still pending is cancelled so it never starts."""
        tracked = self.tracked.pop(ti.key, None)
        self.running.discard(ti.key)
        self.queued_tasks.pop(ti.key, None)
        if tracked is None:
            return
        try:
            cancel_pending_task(self.store, tracked.job, tracked.task)
        except AirExecutorError as exc:
            self.log.warning("Revoking %s: %s", ti.key, exc)

    def try_adopt_task_instances(self, tis: Sequence[TaskInstance]) -> Sequence[TaskInstance]:
        """Adopt the tries whose Air-Executor task is still there (running, pending or just ended)."""
        not_adopted: list[TaskInstance] = []
        for ti in tis:
            ids = naming.parse_external_id(ti.external_executor_id)
            if ids is None or ids[1] not in self._task_ids(ids[0]):
                not_adopted.append(ti)
                continue
            base = naming.try_id(ti.task_id, _map_index(ti), ti.try_number)
            self.tracked[ti.key] = Tracked(ids[0], ids[1], base, _log_path(ti))
            self.running.add(ti.key)
            self.log.info("Adopted %s: Air-Executor job %s, task %s", ti.key, *ids)
        self._watch()
        if self.watcher is not None:
            for job in {self.tracked[ti.key].job for ti in tis if ti.key in self.tracked}:
                self.watcher.watch_job(job)
        self.last_full_read = 0.0  # read the adopted jobs at the next heartbeat
        return not_adopted


def _map_index(ti: Any) -> int:
    return -1 if ti.map_index is None else int(ti.map_index)


def _log_path(ti: TaskInstance) -> str | None:
    """Where Airflow's reader looks for this try's log (the log filename template), if it renders."""
    try:
        from airflow.utils.helpers import log_filename_template_renderer

        return str(log_filename_template_renderer()(ti=ti))
    except Exception:  # a detached TI or an odd template: the log stays readable from the job
        return None
