"""Printing and following task logs, and waiting on a job with a progress bar."""

from __future__ import annotations

import time

import click

from air_executor.cli.views import JobView, load_view, make_console
from air_executor.core import lifecycle
from air_executor.errors import AirExecutorError, JobFileRefused
from air_executor.report import log_dropped
from air_executor.storage.file_store import FileStore
from air_executor.storage.manager_lock import running_manager_pid
from air_executor.storage.names import is_valid_name

POLL = 0.2
READING_SHARE = 0.1  # a waiter spends at most about this share of its time reading a big job's files


def _pause_after(began: float, deadline: float | None = None) -> None:
    """Sleep POLL, or longer after a look that took a while (a job of 100,000 tasks takes ~0.3 s
    to read and count), so a waiter never keeps a core busy; never past `deadline`."""
    now = time.monotonic()
    pause = max(POLL, (now - began) * (1 - READING_SHARE) / READING_SHARE)
    if deadline is not None:
        pause = max(0.0, min(pause, deadline - now))
    time.sleep(pause)


TAIL_BYTES = 1 << 20  # `logs --tail N` reads at most this much of the end of each log


def _task_ids(view: JobView, task_id: str | None) -> list[str]:
    ids = [task_id] if task_id else [str(t.get("id")) for t in view.tasks]
    return [tid for tid in ids if is_valid_name(tid)]  # a task id that cannot be a file name has no log


def _read(store: FileStore, job: str, tid: str, start: int = 0, last: int | None = None) -> tuple[bytes, int]:
    """A log's bytes through the store (never following a symlinked log); a refused log is said once."""
    try:
        return store.read_log(job, tid, start, last=last)
    except JobFileRefused as exc:
        click.echo(f"\n--- {tid}.log: not shown: {exc} ---")
        return b"", -1


def print_logs(store: FileStore, view: JobView, task_id: str | None, tail: int) -> dict[str, int]:
    """Print the last `tail` lines of each task's log; returns where each log ended (by task id)."""
    offsets: dict[str, int] = {}
    for tid in _task_ids(view, task_id):
        data, end = _read(store, view.name, tid, last=TAIL_BYTES)
        if end <= 0:
            if end < 0:
                offsets[tid] = -1
            continue
        offsets[tid] = end
        lines = data.decode("utf-8", "replace").splitlines()
        click.echo(f"\n--- {tid}.log ---")
        dropped = log_dropped(next((t for t in view.tasks if t.get("id") == tid), {}))
        if dropped:
            note = f"this log passed its cap: {dropped} bytes of output were dropped between its head and its tail"
            click.echo(f"[air-executor] {note}")
        for line in lines[-tail:] if tail else []:
            click.echo(line)
    return offsets


def follow_logs(store: FileStore, job: str, task_id: str | None, offsets: dict[str, int]) -> None:
    """Print new output as it is written, until the job is done (Ctrl-C stops earlier)."""
    # print_logs ended with the last log it showed: more of that log needs no second header.
    current: str | None = next(reversed(offsets), None)
    while True:
        began = time.monotonic()
        view = load_view(store, job)
        for tid in _task_ids(view, task_id):
            start = offsets.get(tid, 0)
            if start < 0:
                continue  # refused: said once
            chunk, end = _read(store, job, tid, start)
            if end < 0:
                offsets[tid] = -1
                continue
            if not chunk:
                continue
            offsets[tid] = end
            if current != tid:
                click.echo(f"\n--- {tid}.log ---")
                current = tid
            click.echo(chunk.decode("utf-8", "replace"), nl=False)
        if settled(store, view):
            return
        _pause_after(began)


def settled(store: FileStore, view: JobView) -> bool:
    """The job has finished and none of its runners is still going: a cancelled job's running tasks
    count until the manager has stopped them (their last output and outcome are on disk by then),
    unless no manager runs to stop them."""
    if not view.done:
        return False
    return not view.stopping or running_manager_pid(store.base_path, wait=0) is None


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
            began = time.monotonic()
            view = load_view(store, job)
            progress.update(
                bar,
                total=len(view.tasks) or None,
                completed=view.count(lifecycle.COMPLETED),
                description=f"{job} [{view.state_name}]",
                counts=progress_counts(view),
            )
            if settled(store, view):
                return view
            if deadline is not None and time.monotonic() > deadline:
                raise AirExecutorError(f"job {job!r} did not finish within {timeout:g} s (still {view.state_name})")
            _pause_after(began, deadline)


def progress_counts(view: JobView) -> str:
    """`2/5 completed, 1 failed, 2 skipped`: every way a task can have ended, told apart."""
    text = f"{view.count(lifecycle.COMPLETED)}/{len(view.tasks)} completed"
    for status in (lifecycle.FAILED, lifecycle.SKIPPED, lifecycle.CANCELLED):
        if view.count(status):
            text += f", {view.count(status)} {status}"
    if view.stopping:
        text += f", {view.stopping} still running"
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
