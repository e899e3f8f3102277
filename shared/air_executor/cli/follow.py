"""Printing and following task logs, and waiting on a job with a progress bar."""

from __future__ import annotations

import time
from pathlib import Path

import click

from air_executor.cli.views import JobView, load_view, make_console
from air_executor.core import lifecycle
from air_executor.errors import AirExecutorError
from air_executor.storage.file_store import FileStore

POLL = 0.2


def _log_files(store: FileStore, view: JobView, task_id: str | None) -> list[tuple[str, Path]]:
    ids = [task_id] if task_id else [str(t.get("id")) for t in view.tasks]
    files = []
    for tid in ids:
        try:
            files.append((tid, store.log_path(view.name, tid)))
        except AirExecutorError:
            continue  # a task id that cannot be a file name has no log
    return files


def print_logs(store: FileStore, view: JobView, task_id: str | None, tail: int) -> dict[Path, int]:
    """Print the last `tail` lines of each task's log; returns where each file ended."""
    offsets: dict[Path, int] = {}
    for tid, path in _log_files(store, view, task_id):
        if not path.exists():
            continue
        data = path.read_bytes()
        offsets[path] = len(data)
        lines = data.decode("utf-8", "replace").splitlines()
        click.echo(f"\n--- {tid}.log ---")
        for line in lines[-tail:] if tail else []:
            click.echo(line)
    return offsets


def follow_logs(store: FileStore, job: str, task_id: str | None, offsets: dict[Path, int]) -> None:
    """Print new output as it is written, until the job is done (Ctrl-C stops earlier)."""
    # print_logs ended with the last log it showed: more of that log needs no second header.
    current: Path | None = next(reversed(offsets), None)
    while True:
        view = load_view(store, job)
        for tid, path in _log_files(store, view, task_id):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            start = offsets.get(path, 0)
            if size <= start:
                continue
            with open(path, "rb") as handle:
                handle.seek(start)
                chunk = handle.read(size - start)
            offsets[path] = size
            if current != path:
                click.echo(f"\n--- {tid}.log ---")
                current = path
            click.echo(chunk.decode("utf-8", "replace"), nl=False)
        if view.done:
            return
        time.sleep(POLL)


def wait_for_job(store: FileStore, job: str, timeout: float | None) -> JobView:
    """Show a progress bar until the job is done; returns the finished job.

    The bar counts completed tasks only: failed, skipped and cancelled ones are
    counted beside it, so a job that failed never looks complete.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.fields[counts]}", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=make_console(), transient=False) as progress:
        bar = progress.add_task(job, total=None, counts="")
        while True:
            view = load_view(store, job)
            progress.update(
                bar,
                total=len(view.tasks) or None,
                completed=view.count(lifecycle.COMPLETED),
                description=f"{job} [{view.state_name}]",
                counts=progress_counts(view),
            )
            if view.done:
                return view
            if deadline is not None and time.monotonic() > deadline:
                raise AirExecutorError(f"job {job!r} did not finish within {timeout:g} s (still {view.state_name})")
            time.sleep(POLL)


def progress_counts(view: JobView) -> str:
    """`2/5 completed, 1 failed, 2 skipped`: every way a task can have ended, told apart."""
    text = f"{view.count(lifecycle.COMPLETED)}/{len(view.tasks)} completed"
    for status in (lifecycle.FAILED, lifecycle.SKIPPED, lifecycle.CANCELLED):
        if view.count(status):
            text += f", {view.count(status)} {status}"
    return text


def ending(view: JobView) -> str:
    """One line saying how a finished job ended and, if it failed, which task failed and why."""
    state = view.state_name
    if state == lifecycle.COMPLETED:
        return f"Job {view.name} completed: {progress_counts(view)}"
    if state == lifecycle.CANCELLED:
        return f"job {view.name} was cancelled ({progress_counts(view)})"
    reason = view.state.get("error")
    if not reason:
        failed = next((t for t in view.tasks if t.get("status") == lifecycle.FAILED), None)
        reason = f"task {failed.get('id')!r} failed: {failed.get('error')}" if failed else progress_counts(view)
    return f"job {view.name} {state}: {reason}"
