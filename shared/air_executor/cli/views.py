"""Read-only views of jobs for the CLI: tolerant of unreadable files, rendered with rich.

Everything a job holds (names, commands, arguments, task output, errors) is data:
it goes into `Text` objects and a console with markup and emoji codes off, so a
line like `cannot open [/etc/app.conf]` is printed as written, never parsed as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from air_executor.core import lifecycle
from air_executor.core.clock import human
from air_executor.errors import FileUnreadable, JobNotFound
from air_executor.storage.file_store import FileStore

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

STATE_STYLE = {
    "waiting": "yellow",
    "working": "cyan",
    "completed": "green",
    "failed": "red",
    "skipped": "yellow",
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
        return "unreadable" if self.problem else str(self.state.get("state", "?"))

    def count(self, status: str) -> int:
        return sum(1 for t in self.tasks if t.get("status") == status)

    @property
    def done(self) -> bool:
        return self.problem is None and self.state.get("state") in lifecycle.JOB_DONE


def load_view(store: FileStore, name: str) -> JobView:
    view = JobView(name)
    if not store.job_dir(name).is_dir():
        raise JobNotFound(f"job {name!r} not found in {store.jobs_path}")
    try:
        view.state = store.read_state(name)
        view.tasks = store.read_tasks(name)
    except FileUnreadable as exc:
        view.problem = str(exc)
    return view


def make_console(stderr: bool = False) -> Console:
    """A console that prints data as written: no markup, no emoji codes, no guessed highlighting."""
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


def styled(value: Any, style: str = "") -> Text:
    """`value` as literal text (never markup), optionally styled."""
    from rich.text import Text

    return Text(str(value), style=style)


def status_text(status: str) -> Text:
    return styled(status, STATE_STYLE.get(status, ""))


def command_line(task: dict[str, Any]) -> str:
    return " ".join([str(task.get("command", ""))] + [str(a) for a in task.get("args") or []])


def jobs_table(views: list[JobView]) -> Table:
    from rich.table import Table

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
        done = f"{view.count(lifecycle.COMPLETED)}/{len(view.tasks)}" if not view.problem else "-"
        table.add_row(
            styled(view.name),
            status_text(view.state_name),
            done,
            str(view.count(lifecycle.PENDING)) if not view.problem else "-",
            "✓" if view.count(lifecycle.RUNNING) else "",
            human(view.state.get("updated_at"))[:19],
        )
    return table


def tasks_table(view: JobView) -> Table:
    from rich.table import Table

    table = Table(title=styled(f"Tasks of {view.name}"))
    for title in ("Task", "Status", "Attempts", "Exit", "Started", "Completed", "Command", "Error"):
        table.add_column(title, overflow="fold")
    for task in view.tasks:
        command = command_line(task)
        table.add_row(
            styled(task.get("id")),
            status_text(str(task.get("status"))),
            str(task.get("attempts") or 0),
            "" if task.get("exit_code") is None else str(task.get("exit_code")),
            human(task.get("started_at")),
            human(task.get("completed_at")),
            styled(command if len(command) <= 60 else command[:57] + "..."),
            styled(task.get("error") or ""),
        )
    return table
