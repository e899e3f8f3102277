"""Summaries and the results report (the seeds' `get_air_executor_results` output)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from air_executor.core import lifecycle
from air_executor.core.clock import human

RULE = "=" * 62
THIN = "-" * 62
ICONS = {
    lifecycle.COMPLETED: "✅",
    lifecycle.FAILED: "❌",
    lifecycle.SKIPPED: "⏭️",
    lifecycle.CANCELLED: "🚫",
    lifecycle.RUNNING: "🏃",
    lifecycle.PENDING: "⏳",
}


def summarise(state: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    counts = {status: 0 for status in ("pending", "running", "completed", "failed", "skipped", "cancelled")}
    for task in tasks:
        status = task.get("status")
        if status in counts:
            counts[status] += 1
    return {
        "job_name": state.get("name"),
        "state": state.get("state"),
        "total_tasks": len(tasks),
        **counts,
        "error": state.get("error"),
    }


def progress_line(state: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> str:
    """`Tasks: 2/3 completed` (plus failures when there are any)."""
    s = summarise(state, tasks)
    line = f"Tasks: {s['completed']}/{s['total_tasks']} completed"
    if s["failed"]:
        line += f", {s['failed']} failed"
    return line


def format_results(state: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> str:
    """The formatted report the seeds' DAG prints once a job is done."""
    lines = [
        RULE,
        "🎉 Air-Executor Job Results" if state.get("state") == lifecycle.COMPLETED else "Air-Executor Job Results",
        RULE,
        f"Job Name: {state.get('name')}",
        f"Final State: {state.get('state')}",
        f"Created: {state.get('created_at')}",
        f"Updated: {state.get('updated_at')}",
    ]
    if state.get("error"):
        lines.append(f"Error: {state['error']}")
    lines += ["", "Task Execution Details:", THIN]
    for task in tasks:
        status = str(task.get("status"))
        command = " ".join([str(task.get("command", ""))] + [str(a) for a in task.get("args") or []])
        lines += [
            f"{ICONS.get(status, '•')} {task.get('id')}: {status}",
            f"   Command: {command}",
            f"   Started: {human(task.get('started_at'))}",
            f"   Completed: {human(task.get('completed_at'))}",
        ]
        if task.get("error"):
            lines.append(f"   Error: {task['error']}")
        dropped = log_dropped(task)
        if dropped:
            lines.append(f"   Log: over its cap, {dropped} bytes of output dropped (its head and tail are kept)")
        lines.append("")
    lines.append(RULE)
    return "\n".join(lines)


def log_dropped(task: Mapping[str, Any]) -> int:
    """Bytes of output the last attempt's log cap dropped (0 if none)."""
    history = task.get("history")
    last = history[-1] if isinstance(history, list) and history else None
    dropped = last.get("log_dropped") if isinstance(last, dict) else None
    return dropped if isinstance(dropped, int) and not isinstance(dropped, bool) and dropped > 0 else 0


# -- what an orchestrator shows of a job it waits on (the Airflow provider, the Prefect tasks) -----

RESULT_FIELDS = ("id", "status", "result", "exit_code", "error", "started_at", "completed_at", "attempts")


def job_results(state: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Plain, JSON-ready results of a job (what goes to XCom)."""
    return {
        "job_name": state.get("name"),
        "state": state.get("state"),
        "error": state.get("error"),
        "created_at": state.get("created_at"),
        "updated_at": state.get("updated_at"),
        "summary": summarise(state, tasks),
        "tasks": [{key: task.get(key) for key in RESULT_FIELDS} for task in tasks],
    }


def progress_lines(state: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """The seeds' progress log: `📊 Job <name> state: working` then `   Tasks: 2/3 completed`."""
    lines = [f"📊 Job {state.get('name')} state: {state.get('state')}", f"   {progress_line(state, tasks)}"]
    if state.get("state") == lifecycle.WAITING:
        lines.append("⏳ Waiting for job to be picked up...")
    return lines


def failure_message(state: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> str:
    """Why a job did not complete: its error, then each failed task's error it does not already say."""
    error = str(state.get("error") or "")
    text = f"Air-Executor job {state.get('name')} {state.get('state')}" + (f": {error}" if error else "")
    for task in tasks:
        task_error = str(task.get("error") or "no error recorded")
        if task.get("status") == lifecycle.FAILED and task_error not in error:
            text += f"\n  task {task.get('id')!r} failed: {task_error}"
    return text
