"""Read-only views of jobs for the CLI: tolerant of unreadable files, rendered with rich.

Everything a job holds (names, commands, arguments, task output, errors) is data:
it goes into `Text` objects and a console with markup and emoji codes off, so a
line like `cannot open [/etc/app.conf]` is printed as written, never parsed as markup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from air_executor.core import lifecycle
from air_executor.core.clock import human
from air_executor.errors import FileUnreadable, JobFileRefused, JobNotFound
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
        # A job failed for a bad tasks.json says "failed" (its state.json has the reason).
        if self.problem and self.state.get("state") not in lifecycle.JOB_DONE:
            return "unreadable"
        return str(self.state.get("state", "?"))

    def count(self, status: str) -> int:
        return sum(1 for t in self.tasks if t.get("status") == status)

    @property
    def done(self) -> bool:
        return self.problem is None and self.state.get("state") in lifecycle.JOB_DONE

    @property
    def stopping(self) -> int:
        """Tasks still running in a finished job: a cancelled job's runners until the manager stops them."""
        return self.count(lifecycle.RUNNING) if self.done else 0


def load_view(store: FileStore, name: str) -> JobView:
    view = JobView(name)
    if not os.path.lexists(store.job_folder(name)):
        raise JobNotFound(f"job {name!r} not found in {store.jobs_path}")
    try:
        view.state, view.tasks = store.read_job(name)
    except FileUnreadable as exc:
        try:  # state.json alone may be readable (tasks.json not written yet, or bad)
            view.state = store.read_state(name)
        except (FileUnreadable, JobFileRefused):
            pass
        view.problem = str(exc)
    except JobFileRefused as exc:
        try:
            view.state = store.read_state(name)
        except (FileUnreadable, JobFileRefused):
            pass
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


def when(stamp: Any) -> str:
    """`2025-10-02 07:30:16`: to the second, which is what a table has room for."""
    return human(stamp)[:19]


def took(task: dict[str, Any]) -> str:
    """How long the last attempt ran: `0.4s`, `12s`, `3m04s`, `1h02m`; `-` while unknown."""
    from air_executor.core.clock import parse_iso, span

    start, end = parse_iso(task.get("started_at")), parse_iso(task.get("completed_at"))
    if start is None or end is None or end < start:
        return "-"
    return span(end - start)


def show_table(console: Console, table: Table, title: str | None = None) -> None:
    """A boxed table on a terminal; for a pipe, a plain one: no box, nothing wrapped, one line per row."""
    if console.is_terminal:
        if title:
            table.title = styled(title)
        console.print(table)
        return
    if title:
        console.print(styled(f"{title}:"), soft_wrap=True)
    for line in plain_lines(table):
        console.print(styled(line), soft_wrap=True)


def plain_lines(table: Table) -> list[str]:
    """The table as aligned columns of text, as wide as its content needs (for pipes and files)."""
    from rich.console import Console

    table.box, table.show_edge, table.pad_edge, table.padding, table.collapse_padding = (
        None,
        False,
        False,
        (0, 1),
        False,
    )
    for column in table.columns:
        column.no_wrap, column.overflow, column.max_width, column.min_width = True, "ignore", None, None
    wide = Console(width=100_000, color_system=None, markup=False, emoji=False, highlight=False)
    with wide.capture() as captured:
        wide.print(table)
    return [line.rstrip() for line in captured.get().splitlines()]


def jobs_table(views: list[JobView], width: int, plain: bool) -> Table:
    """The seeds' table: Job Name, State, Pending Tasks, Active Runner, Updated At (plus Tasks done)."""
    from rich.table import Table

    narrow = width < 100  # let the long headers wrap, never the states or the times
    table = Table()
    table.add_column("Job Name", overflow="fold", min_width=8)
    table.add_column("State", no_wrap=True)
    table.add_column("Tasks", justify="right", no_wrap=True)
    table.add_column("Pending Tasks", justify="right", max_width=9 if narrow else None)
    table.add_column("Active Runner", justify="center", max_width=8 if narrow else None)
    table.add_column("Updated At", no_wrap=True)
    blank = "-" if plain else ""
    for view in views:
        done = f"{view.count(lifecycle.COMPLETED)}/{len(view.tasks)}" if not view.problem else "-"
        table.add_row(
            styled(view.name),
            status_text(view.state_name),
            done,
            str(view.count(lifecycle.PENDING)) if not view.problem else "-",
            "✓" if view.count(lifecycle.RUNNING) else blank,
            when(view.state.get("updated_at")),
        )
    return table


def tasks_table(view: JobView, width: int, plain: bool) -> Table:
    """One row per task; on a terminal the errors go below the table (`task_errors`), in plain form last."""
    from rich.table import Table

    # At 80 columns the box's padding is what does not fit: narrow terminals get less of it.
    table = Table(padding=(0, 1) if width >= 100 else (0, 0), collapse_padding=width < 100)
    table.add_column("Task", overflow="fold", min_width=4)
    table.add_column("Status", no_wrap=True)
    table.add_column("Attempts", justify="right", no_wrap=True)
    table.add_column("Exit", justify="right", no_wrap=True)
    table.add_column("Started", no_wrap=True)
    table.add_column("Took", justify="right", no_wrap=True)
    table.add_column("Command", overflow="fold", min_width=10)
    if plain:
        table.add_column("Error")
    for task in view.tasks:
        exit_code = task.get("exit_code")
        cells: list[str | Text] = [
            styled(task.get("id")),
            status_text(str(task.get("status"))),
            str(task.get("attempts") or 0),
            "-" if exit_code is None else str(exit_code),
            when(task.get("started_at")),
            took(task),
            styled(command_line(task)),
        ]
        if plain:
            cells.append(styled(_one_line(task.get("error")) or "-"))
        table.add_row(*cells)
    return table


def task_errors(view: JobView) -> list[Text]:
    """`bad: false exited with code 1`, one line per task that has an error."""
    return [
        styled(f"{task.get('id')}: {_one_line(task.get('error'))}", STATE_STYLE.get(str(task.get("status")), ""))
        for task in view.tasks
        if task.get("error")
    ]


def _one_line(text: Any) -> str:
    return " ".join(str(text).split()) if text else ""
