"""Read-only views of jobs for the CLI: tolerant of unreadable files, rendered with rich."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from air_executor.core import lifecycle
from air_executor.core.clock import human
from air_executor.errors import FileUnreadable, JobFileRefused, JobNotFound
from air_executor.storage.file_store import FileStore

STATE_STYLE = {
    "waiting": "yellow",
    "working": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "unreadable": "bold red",
}


@dataclass
class JobView:
    name: str
    state: dict[str, Any] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None  # why the files could not be read

    @property
    def state_name(self) -> str:
        # A job failed for a bad tasks.json says "failed" (its state.json has the reason).
        if self.problem and self.state.get("state") not in lifecycle.JOB_DONE:
            return "unreadable"
        return str(self.state.get("state", "?"))

    def count(self, status: str) -> int:
        return sum(1 for t in self.tasks if t.get("status") == status)

    @property
    def done(self) -> bool:
        return self.problem is None and self.state.get("state") in lifecycle.JOB_DONE


def load_view(store: FileStore, name: str) -> JobView:
    view = JobView(name)
    if not os.path.lexists(store.job_folder(name)):
        raise JobNotFound(f"job {name!r} not found in {store.jobs_path}")
    try:
        view.state = store.read_state(name)
        view.tasks = store.read_tasks(name)
    except (FileUnreadable, JobFileRefused) as exc:
        view.problem = str(exc)
    return view


def jobs_table(views: list[JobView]) -> Table:
    table = Table()
    for title, justify in (
        ("Job Name", "left"),
        ("State", "left"),
        ("Tasks", "right"),
        ("Pending Tasks", "right"),
        ("Active Runner", "center"),
        ("Updated At", "left"),
    ):
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for view in views:
        state = view.state_name
        done = f"{view.count(lifecycle.COMPLETED)}/{len(view.tasks)}" if not view.problem else "-"
        table.add_row(
            view.name,
            f"[{STATE_STYLE.get(state, 'white')}]{state}[/]",
            done,
            str(view.count(lifecycle.PENDING)) if not view.problem else "-",
            "✓" if view.count(lifecycle.RUNNING) else "",
            human(view.state.get("updated_at"))[:19],
        )
    return table


def tasks_table(view: JobView) -> Table:
    table = Table(title=f"Tasks of {view.name}")
    for title in ("Task", "Status", "Attempts", "Exit", "Started", "Completed", "Command", "Error"):
        table.add_column(title, overflow="fold")
    for task in view.tasks:
        status = str(task.get("status"))
        command = " ".join([str(task.get("command", ""))] + [str(a) for a in task.get("args") or []])
        table.add_row(
            str(task.get("id")),
            f"[{STATE_STYLE.get(status, 'white')}]{status}[/]",
            str(task.get("attempts") or 0),
            "" if task.get("exit_code") is None else str(task.get("exit_code")),
            human(task.get("started_at")),
            human(task.get("completed_at")),
            command if len(command) <= 60 else command[:57] + "...",
            str(task.get("error") or ""),
        )
    return table
