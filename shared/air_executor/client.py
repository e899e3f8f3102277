"""The client API: create jobs, queue tasks, reset, cancel and read jobs, all under the job lock.

The CLI, the Airflow provider and user code call these; the seeds' `TaskQueue`
delegates here too. Queuing a task (`add_tasks`) is on the path of `add-task`, which
tasks run in loops: it imports pydantic and the config model only when it needs them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from air_executor import config_file
from air_executor.core import lifecycle, task_rules
from air_executor.core.clock import now_iso, parse_iso
from air_executor.errors import InvalidJob, JobExists, LimitExceeded
from air_executor.storage import file_format
from air_executor.storage.file_store import FileStore
from air_executor.storage.names import check_job_name, is_valid_name

if TYPE_CHECKING:
    from air_executor.config import Config

# The runner puts a task's context in its environment (README "Dynamic tasks").
ENV_JOB = "AIR_EXECUTOR_JOB"
ENV_TASK = "AIR_EXECUTOR_TASK_ID"


def build_tasks(job_name: str, specs: Any) -> list[dict[str, Any]]:
    """Validate a job's task list and return documents ready to write."""
    if not isinstance(specs, list):
        raise InvalidJob(f"job {job_name!r}: tasks must be a list, got {type(specs).__name__}")
    if not specs:
        raise InvalidJob(f"job {job_name!r} has no tasks; a job needs at least one")
    docs: list[dict[str, Any]] = []
    taken: set[str] = set()
    for number, spec in enumerate(specs, 1):
        doc = _task_doc(job_name, spec, f"task #{number}", default_id=f"task-{number}")
        if doc["id"] in taken:
            raise InvalidJob(f"job {job_name!r}: duplicate task id {doc['id']!r}")
        taken.add(doc["id"])
        docs.append(doc)
    check_graph(job_name, docs)
    return docs


def check_graph(job_name: str, tasks: Sequence[Mapping[str, Any]], *, known_outside: bool = False) -> None:
    """Refuse unknown dependencies and cycles with the offending ids named (`known_outside`: the
    caller checked dependencies on tasks outside `tasks`; only cycles among them are left)."""
    from air_executor.core.graph import find_cycle, unknown_dependencies

    for task_id, missing in unknown_dependencies(tasks).items():
        if not known_outside:
            raise InvalidJob(f"job {job_name!r}: task {task_id!r} depends on unknown task {missing!r}")
    cycle = find_cycle(tasks)
    if cycle:
        raise InvalidJob(f"job {job_name!r}: dependency cycle {' -> '.join(cycle)}")


def create_job(
    store: FileStore,
    name: str,
    tasks: Any,
    **options: Any,
) -> dict[str, Any]:
    """Write a new job (state `waiting`, every task `pending`); returns its state document.

    Unknown job options and task fields are refused, so a typo (`max_paralel`,
    `dependancies`) is an error rather than a field silently kept and never used.
    """
    from pydantic import ValidationError

    from air_executor.core.job import Job
    from air_executor.core.task import describe_validation_error

    check_job_name(name)
    refuse_unknown(f"job {name!r}", options, job_options())
    if isinstance(tasks, list):
        for number, task in enumerate(tasks, 1):
            if isinstance(task, dict):
                refuse_unknown(
                    f"job {name!r}: task #{number} ({task.get('id', f'task-{number}')})", task, task_fields()
                )
    if store.exists(name):
        raise JobExists(f"job {name!r} already exists in {store.jobs_path}; pick another name")
    docs = build_tasks(name, tasks)
    try:
        job = Job(name=name, **options)
    except ValidationError as exc:
        raise InvalidJob(f"job {name!r} is invalid: {describe_validation_error(exc)}") from None
    refuse_past(f"job {name!r}", job.not_before)
    for doc in docs:
        refuse_past(f"job {name!r}: task {doc['id']!r}", doc.get("not_before"))
    if job.max_tasks is not None and len(docs) > job.max_tasks:
        # The job's own cap on its tasks (dynamic ones included) holds from the start. The config's
        # max_tasks_per_job guards what tasks queue, not what a job is written with (10,000 is fine).
        raise InvalidJob(f"job {name!r} has {len(docs)} tasks, more than its max_tasks ({job.max_tasks})")
    state = {**job.to_dict(), file_format.FIELD: file_format.FORMAT_VERSION}
    store.write_new_job(state, docs)
    return state


def submit_spec(store: FileStore, spec: Any, name: str | None = None) -> dict[str, Any]:
    """Create a job from a parsed YAML/JSON document `{name, tasks, max_parallel, ...}`."""
    if not isinstance(spec, dict):
        raise InvalidJob(f"a job file must hold a mapping with 'name' and 'tasks', got {type(spec).__name__}")
    spec = dict(spec)
    file_name = spec.pop("name", None)
    job_name = name if name is not None else file_name
    if job_name is None:
        raise InvalidJob("the job has no name: add 'name:' to the file or pass --name")
    if "tasks" not in spec:
        raise InvalidJob(f"job {job_name!r} has no 'tasks' list")
    return create_job(store, job_name, with_submit_dirs(spec.pop("tasks")), **spec)


# What a job file or a client may not set: Air-Executor writes these.
_JOB_WRITTEN_BY_US = {"id", "name", "state", "created_at", "updated_at", "error", "format_version"}
_WRITTEN_BY_US = {
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "error",
    "attempts",
    "result",
    "exit_code",
    "parent",
    "depth",
    "job_name",
}


def job_options() -> set[str]:
    """The job options a job file or a client may set (max_parallel, max_tasks, max_depth)."""
    from air_executor.core.job import Job

    return set(Job.model_fields) - _JOB_WRITTEN_BY_US


def task_fields() -> set[str]:
    """The task fields a job file or a client may set."""
    from air_executor.core.task import Task

    return set(Task.model_fields) - _WRITTEN_BY_US


def refuse_past(where: str, not_before: Any) -> None:
    """A new job or task may not ask to start at a time that has passed (a typo in a date, most likely)."""
    at = parse_iso(not_before) if isinstance(not_before, str) else None
    if at is not None and at <= time.time():
        raise InvalidJob(f"{where}: not_before {not_before} is in the past; give a time to come (UTC) or leave it out")


def refuse_unknown(where: str, doc: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise InvalidJob(f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def load_spec_file(path: str | os.PathLike[str]) -> Any:
    """Parse a job file: JSON if it ends in .json, else YAML (which also reads JSON)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidJob(f"cannot read job file {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidJob(f"job file {file} is not UTF-8 text") from None
    return parse_spec(text, f"job file {file}", as_json=file.suffix == ".json")


def parse_spec(text: str, source: str, *, as_json: bool = False) -> Any:
    """Parse a job document read from `source` (a file, or standard input): JSON or YAML."""
    import json

    import yaml

    try:
        return json.loads(text) if as_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if as_json else "YAML"
        raise InvalidJob(f"{source} is not valid {kind}: {str(exc).splitlines()[0]}") from None


def add_tasks(
    store: FileStore,
    job_name: str,
    specs: Iterable[Any],
    *,
    parent: str | None = None,
    config: Config | config_file.Guardrails | None = None,
    reopen_failed: bool = False,
) -> list[str]:
    """Queue tasks in an existing job, with the dynamic-task guardrails; returns their ids.

    `reopen_failed`: a failed job takes the tasks too and works again, its failed tasks
    left as they are (the Airflow executor's job of a DAG run gets the next try of a task
    whose last try failed; nothing already run runs again).

    Inside a running task the parent defaults to that task (from the environment),
    so depth limits and de-duplication apply to what it spawns. The tasks go to the job's
    queue (storage/journal.py), checked against its index of ids and dedup keys, so queuing
    costs the same in a job of ten tasks or of ten thousand; the manager folds them into
    tasks.json.
    """
    from air_executor.storage import journal
    from air_executor.storage.lock import JobLock

    if parent is None and os.environ.get(ENV_JOB) == job_name:
        parent = os.environ.get(ENV_TASK) or None
    config = config or guardrails(store.base)
    specs = list(specs)
    for spec in specs:  # refuse a bad task before touching the job
        _task_doc(job_name, spec, "task", default_id="task-1")
    with store.open_job(job_name) as job_dir, JobLock(job_dir):
        state = store.read_state_in(job_dir)
        reopen = reopen_failed and state.get("state") == lifecycle.FAILED
        if not reopen:
            _check_open(job_name, state)
        index = journal.Index.open(job_dir, create=True)
        assert index is not None
        try:
            if not index.complete:
                index.rebuild(_all_tasks(store, job_dir))  # a job no protocol writer has queued into yet
            ids, docs = _new_tasks(job_name, index, specs, parent, state, config)
            if docs:
                if job_dir.exists("tasks.json"):
                    journal.queue_tasks(job_dir, docs)
                else:  # the job's first tasks (the seeds' TaskQueue on a job with state.json only)
                    _first_tasks(store, job_dir, docs)
                for doc in docs:
                    index.add(doc)
                index.set_count(index.count() + len(docs))
                if state.get("state") == lifecycle.COMPLETED or reopen:  # new work reopens a completed job
                    state.update(state=lifecycle.WORKING, updated_at=now_iso())
                    job_dir.write("state.json", _dump(state))
        finally:
            index.close()
    return ids


def _all_tasks(store: FileStore, job_dir: Any) -> list[dict[str, Any]]:
    """tasks.json (absent: none yet) with the journal folded in."""
    from air_executor.storage.file_store import JobFiles

    return JobFiles(job_dir).load(require_tasks=False, max_retry_delay=store.max_retry_delay).tasks or []


def _first_tasks(store: FileStore, job_dir: Any, docs: list[dict[str, Any]]) -> None:
    """tasks.json for a job that has none yet: whatever is queued, then these."""
    from air_executor.storage.file_store import encode_task, encode_tasks

    files_tasks = _all_tasks(store, job_dir)
    job_dir.write("tasks.json", encode_tasks([encode_task(t) for t in [*files_tasks, *docs]]))
    from air_executor.storage import journal

    journal.remove_queued(job_dir, [name for name, _ in journal.read_queue(job_dir)])


def _dump(doc: dict[str, Any]) -> bytes:
    from air_executor.storage.file_store import dump_json

    return dump_json(doc)


def _new_tasks(
    job_name: str,
    index: Any,
    specs: list[Any],
    parent: str | None,
    state: Mapping[str, Any],
    config: Config | config_file.Guardrails,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The ids to return and the documents to queue, checked against the index."""
    depth = _child_depth(job_name, index, parent, state, config)
    count, limit = index.count(), state.get("max_tasks", config.max_tasks_per_job)
    ids: list[str] = []
    docs: list[dict[str, Any]] = []
    batch: dict[str, dict[str, Any]] = {}
    for spec in specs:
        key = spec.get("dedup_key") if isinstance(spec, dict) else None
        if isinstance(key, str):
            same = index.dedup(key) or next((t["id"] for t in docs if t.get("dedup_key") == key), None)
            if same is not None:
                ids.append(str(same))
                continue
        if count + len(docs) >= limit:
            raise LimitExceeded(
                f"job {job_name!r} already has {count + len(docs)} tasks, its limit "
                "(max_tasks_per_job, or the job's max_tasks)"
            )
        number = count + len(docs) + 1
        while index.has(f"task-{number}") or f"task-{number}" in batch:
            number += 1
        doc = _task_doc(job_name, spec, "task", default_id=f"task-{number}")
        if index.has(doc["id"]) or doc["id"] in batch:
            raise InvalidJob(f"job {job_name!r} already has a task {doc['id']!r}")
        if parent is not None:
            doc["parent"], doc["depth"] = parent, depth
        batch[doc["id"]] = doc
        docs.append(doc)
        ids.append(str(doc["id"]))
    for doc in docs:
        missing = next((d for d in doc.get("dependencies") or [] if d not in batch and not index.has(d)), None)
        if missing is not None:
            raise InvalidJob(f"job {job_name!r}: task {doc['id']!r} depends on unknown task {missing!r}")
    check_graph(job_name, docs, known_outside=True)
    return ids, docs


def guardrails(
    base: str | os.PathLike[str] | None, config_path: str | os.PathLike[str] | None = None
) -> Config | config_file.Guardrails:
    """The dynamic-task guardrails (max_tasks_per_job, max_spawn_depth) for a base folder.

    Their defaults, read without pydantic, unless the config file or the environment sets
    one: then the config model checks those two (and only those: queuing a task needs
    nothing else, so a bad unrelated setting does not stop a task from queuing work).
    """
    source = config_file.read(config_path, base, os.environ, config_file.GUARDRAILS, only_names=True)
    light = config_file.default_guardrails(source)
    if light is not None:
        return light
    from air_executor.config import Config

    return Config.from_source(source, only=config_file.GUARDRAILS)


def _check_open(job_name: str, state: Mapping[str, Any]) -> None:
    """Tasks may join a waiting, working or completed job; a failed or cancelled one needs `reset`."""
    current = state.get("state")
    if current in (lifecycle.FAILED, lifecycle.CANCELLED):
        raise InvalidJob(f"job {job_name!r} is {current}; reset it before adding tasks")


def _child_depth(
    job_name: str,
    index: Any,
    parent: str | None,
    state: Mapping[str, Any],
    config: Config | config_file.Guardrails,
) -> int:
    if parent is None:
        return 0
    parent_depth = index.depth(parent)
    if parent_depth is None:
        raise InvalidJob(f"job {job_name!r} has no task {parent!r} to be the parent")
    depth = parent_depth + 1
    limit = state.get("max_depth", config.max_spawn_depth)
    if depth > limit:
        raise LimitExceeded(
            f"job {job_name!r}: task {parent!r} may not queue tasks at spawn depth {depth}; "
            f"the limit is {limit} (max_spawn_depth, or the job's max_depth)"
        )
    return depth


def _task_doc(job_name: str, spec: Any, where: str, default_id: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise InvalidJob(f"job {job_name!r}: {where} must be a mapping, got {type(spec).__name__}")
    if "command" not in spec:
        raise InvalidJob(f"job {job_name!r}: {where} ({spec.get('id', default_id)}) has no command")
    doc = {"id": default_id, **spec, "job_name": job_name}
    doc.setdefault("status", lifecycle.PENDING)
    if doc["status"] != lifecycle.PENDING:
        raise InvalidJob(f"job {job_name!r}: new task {doc['id']!r} must be pending")
    light = light_task_doc(doc)
    if light is not None:
        return light
    from air_executor.core.task import Task

    return Task.parse(doc, f"job {job_name!r}: {where} ({doc['id']})").to_dict()


# The optional fields light_task_doc vouches for, in the Task model's order, and what each must be.
_LIGHT_FIELDS = {
    "timeout": lambda v: _is_int(v) and task_rules.TIMEOUT[0] <= v <= task_rules.TIMEOUT[1],
    # 0 is the model's default, which its document leaves out: that case goes through the model.
    "retries": lambda v: _is_int(v) and max(1, task_rules.RETRIES[0]) <= v <= task_rules.RETRIES[1],
    "retry_delay": lambda v: _is_number(v) and task_rules.RETRY_DELAY[0] <= v <= task_rules.RETRY_DELAY[1],
    "env": lambda v: isinstance(v, dict) and bool(v) and all(_is_str(k) and _is_str(x) for k, x in v.items()),
    "cwd": lambda v: _is_str(v),
    "submit_dir": lambda v: _is_str(v) and os.path.isabs(v),
    "image": lambda v: _is_str(v),
    "dedup_key": lambda v: _is_str(v),
}
_LIGHT_SEED = {"id", "job_name", "command", "args", "dependencies", "status"}


def light_task_doc(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """What `Task.parse(doc).to_dict()` returns for a simple new task, built without pydantic.

    Simple: only the fields below, each plainly valid. Anything else returns None and
    goes through the Task model, which also words every refusal, so this path never
    refuses and never accepts what the model would not (tests/shared/test_light_task_doc.py
    checks both give the same document).
    """
    if not set(doc) <= _LIGHT_SEED | set(_LIGHT_FIELDS) or doc.get("status") != lifecycle.PENDING:
        return None
    command, args, deps = doc.get("command"), doc.get("args", []), doc.get("dependencies", [])
    simple = (
        is_valid_name(doc.get("id"))
        and isinstance(command, str)
        and bool(command.strip())
        and isinstance(args, list)
        and all(_is_str(a) for a in args)
        and isinstance(deps, list)
        and all(_is_str(d) for d in deps)
        and _is_str(doc.get("job_name"))
        and all(check(doc[key]) for key, check in _LIGHT_FIELDS.items() if key in doc and doc[key] is not None)
    )
    if not simple:
        return None
    new = {**dict.fromkeys(task_rules.SEED_FIELDS), "args": args, "dependencies": deps, "created_at": now_iso()}
    new.update((key, doc[key]) for key in ("id", "job_name", "command", "status"))
    new.update((key, doc[key]) for key in _LIGHT_FIELDS if doc.get(key) is not None)
    return new


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def with_submit_dir(spec: Any) -> Any:
    """The task spec with `submit_dir`, the folder it is submitted from, unless it names one already.

    The task runs there unless its `cwd` says otherwise, so relative paths in its
    arguments mean what they meant where it was queued (README "Working directory").
    """
    if not isinstance(spec, dict) or spec.get("submit_dir"):
        return spec
    try:
        here = os.getcwd()
    except OSError:  # the caller's folder is gone: nothing worth recording
        return spec
    return {**spec, "submit_dir": here}


def with_submit_dirs(tasks: Any) -> Any:
    """`with_submit_dir` on each task of a list (anything else is left for the checks to refuse)."""
    return [with_submit_dir(task) for task in tasks] if isinstance(tasks, list) else tasks


# -- operating on whole jobs -------------------------------------------------------------


def reset_job(store: FileStore, job_name: str) -> int:
    """Return a failed or cancelled job to waiting; its failed and never-run tasks to pending."""
    with store.transaction(job_name) as files:
        state, tasks = files.state or {}, files.tasks or []
        current = state.get("state")
        if current == lifecycle.COMPLETED:
            raise InvalidJob(f"job {job_name!r} is completed; there is nothing to reset")
        if current not in (lifecycle.FAILED, lifecycle.CANCELLED):
            raise InvalidJob(f"job {job_name!r} is {current}; only a failed or cancelled job can be reset")
        running = [t.get("id") for t in tasks if t.get("status") == lifecycle.RUNNING]
        if running:
            raise InvalidJob(
                f"job {job_name!r} still has running tasks ({', '.join(map(str, running))}); "
                "wait until they have stopped (air-executor cancel --job NAME --wait)"
            )
        count = 0
        for task in tasks:
            if task.get("status") in (lifecycle.FAILED, lifecycle.SKIPPED, lifecycle.CANCELLED):
                _back_to_pending(task)
                count += 1
        state["state"] = lifecycle.WAITING
        state.pop("error", None)
        state["updated_at"] = now_iso()
    return count


def _back_to_pending(task: dict[str, Any]) -> None:
    task.update(status=lifecycle.PENDING, error=None, started_at=None, completed_at=None, attempts=0)
    for key in ("not_before", "launch_id", "launched_at", "runner_id", "result", "exit_code"):
        task.pop(key, None)


def cancel_job(store: FileStore, job_name: str) -> tuple[int, int]:
    """Mark a job cancelled; pending tasks now, running ones as the manager stops their runners.

    Returns (pending tasks cancelled, running tasks left for the manager to stop).
    """
    with store.transaction(job_name, require_tasks=False) as files:
        state, tasks = files.state or {}, files.tasks or []
        if state.get("state") in lifecycle.JOB_DONE:
            raise InvalidJob(f"job {job_name!r} is already {state.get('state')}")
        stamp = now_iso()
        pending = 0
        for task in tasks:
            if task.get("status") == lifecycle.PENDING:
                task.update(status=lifecycle.CANCELLED, error="cancelled with its job", completed_at=stamp)
                pending += 1
        running = sum(1 for t in tasks if t.get("status") == lifecycle.RUNNING)
        state.update(state=lifecycle.CANCELLED, updated_at=stamp, error="cancelled")
    return pending, running


def cancel_pending_task(store: FileStore, job_name: str, task_id: str) -> bool:
    """Cancel one task that has not started (True); a running or ended one is left alone (False).

    The Airflow executor calls this when Airflow takes a queued try back, so it never starts.
    """
    with store.transaction(job_name, require_tasks=False) as files:
        task = files.task(task_id)
        if task is None or task.get("status") != lifecycle.PENDING:
            return False
        task.update(status=lifecycle.CANCELLED, error="cancelled by Airflow", completed_at=now_iso())
    return True


class Client:
    """A small Python API over the base folder, for scripts and the Airflow provider."""

    def __init__(self, base_path: str | os.PathLike[str] | None = None) -> None:
        self.store = FileStore(base_path)

    def create_job(self, job_name: str, tasks: Any, **options: Any) -> str:
        """Like the seeds' `AirExecutorClient.create_job`: returns the new job's id.

        Each task records the folder this is called from as its `submit_dir`.
        """
        return str(create_job(self.store, job_name, with_submit_dirs(tasks), **options)["id"])

    def add_task(self, job_name: str, command: str, args: Sequence[str] = (), **fields: Any) -> str:
        """Queue one task; unknown fields (a typo like `dependancies`) are refused."""
        refuse_unknown(f"job {job_name!r}: new task", fields, task_fields())
        spec = with_submit_dir({"command": command, "args": list(args), **fields})
        return add_tasks(self.store, job_name, [spec])[0]

    def state(self, job_name: str) -> dict[str, Any]:
        return self.store.read_state(job_name)

    def tasks(self, job_name: str) -> list[dict[str, Any]]:
        return self.store.read_tasks(job_name)

    def status(self, job_name: str) -> dict[str, Any]:
        """`{job_name, state, total_tasks, completed, failed, pending, running}` like the seeds' helper."""
        from air_executor.report import summarise

        return summarise(self.state(job_name), self.tasks(job_name))

    # -- recurring jobs (README "Scheduling") -------------------------------------------------

    def add_schedule(self, name: str, cron: str, tasks: Any, *, replace: bool = False, **options: Any) -> None:
        """Run `tasks` as job `<name>-<time>` on `cron`. Options: `timezone`, `catch_up` ("one" or
        "none"), `allow_overlap`, `paused`, and any job field (`max_parallel`, `priority`...)."""
        from air_executor.storage import schedules

        settings = {k: options.pop(k) for k in ("timezone", "catch_up", "allow_overlap", "paused") if k in options}
        job = {**options, "tasks": with_submit_dirs(tasks)}
        schedules.add(self.store.base_path, name, job, cron, replace=replace, **settings)

    def pause_schedule(self, name: str, paused: bool = True) -> None:
        from air_executor.storage import schedules

        schedules.set_paused(self.store.base_path, name, paused)

    def remove_schedule(self, name: str) -> bool:
        from air_executor.storage import schedules

        return schedules.remove(self.store.base_path, name)

    def schedules(self) -> list[str]:
        from air_executor.storage import schedules

        return schedules.names(self.store.base_path)
