"""Job commands: `status`, `logs`, `results`, `submit`, `reset`, `cancel`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from air_executor import client
from air_executor.cli.basics import interrupted
from air_executor.cli.common import Env, job_option, wait_for_job_lock, with_env
from air_executor.cli.follow import ending, follow_logs, print_logs, wait_for_job
from air_executor.cli.views import jobs_table, load_view, make_console, show_table, styled, task_errors, tasks_table
from air_executor.core import lifecycle
from air_executor.core.clock import human, now_iso, parse_iso
from air_executor.core.retention import parse_duration
from air_executor.core.task_rules import PRIORITY
from air_executor.report import format_results, summarise
from air_executor.storage.manager_lock import (
    active_manager,
    launches_paused,
    pool_use,
    running_manager_pid,
    standby_managers,
)
from air_executor.storage.names import check_job_name


@click.command()
@click.option("--job", help="Only this job (and show its tasks).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_env(lenient=True)
def status(env: Env, job: str | None, as_json: bool) -> None:
    """Show jobs: state, pending tasks, active runner, last update."""
    names = [check_job_name(job)] if job is not None else env.store.list_job_names()
    views = [load_view(env.store, name) for name in names]
    if as_json:
        out = [{**summarise(v.state, v.tasks), "job_name": v.name, "problem": v.problem} for v in views]
        click.echo(json.dumps(out if job is None else out[0], indent=2))
        return
    console = make_console()
    plain = not console.is_terminal
    pid = running_manager_pid(env.config.base)
    where = active_manager(env.config.base) if pid else None
    host = f" on {where.split(' on ', 1)[1]}" if where and where.startswith(f"{pid} on ") else ""
    manager = f"running (PID {pid}){host}" if pid else "not running"
    console.print(styled(f"Manager: {manager} — base {env.config.base}"), soft_wrap=True)
    standbys = standby_managers(env.config.base)
    if standbys:
        console.print(styled(f"Standby managers: {len(standbys)} (PID {', PID '.join(standbys)})"), soft_wrap=True)
    paused = launches_paused(env.config.base) if pid else None
    if paused:
        console.print(styled(f"Launches paused: {paused}", "bold yellow"), soft_wrap=True)
    pools = pool_use(env.config.base) if pid else {}
    if pools:
        use = ", ".join(f"{pool} {u['used']}/{u['size']}" for pool, u in pools.items())
        console.print(styled(f"Pools in use: {use}"), soft_wrap=True)
    if not views:
        console.print(styled(_no_jobs(env)), soft_wrap=True)
        return
    show_table(console, jobs_table(views, console.width, plain))
    for view in views:
        if view.problem:
            console.print(styled(f"{view.name}: {view.problem}", "bold red"), soft_wrap=True)
        elif view.state.get("error") and job:
            console.print(styled(f"{view.name}: {view.state['error']}", "red"), soft_wrap=True)
        elif (
            job
            and view.state_name == lifecycle.WAITING
            and (parse_iso(view.state.get("not_before")) or 0) > time.time()
        ):
            console.print(styled(f"{view.name}: starts no earlier than {human(view.state['not_before'])} UTC"))
    if job is not None and views[0].tasks:
        show_table(console, tasks_table(views[0], console.width, plain), f"Tasks of {views[0].name}")
        for line in [] if plain else task_errors(views[0]):
            console.print(line, soft_wrap=True)


def _no_jobs(env: Env) -> str:
    if not env.store.jobs_path.is_dir():
        return f"No jobs: {env.store.jobs_path} does not exist (is --base-path the folder you meant?)"
    return f"No jobs in {env.store.jobs_path}."


@click.command()
@job_option()
@click.option("--task", "task_id", help="Only this task's log.")
@click.option("--tail", default=50, show_default=True, type=click.IntRange(min=0), help="Lines per log.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the job is done.")
@with_env(lenient=True)
def logs(env: Env, job: str, task_id: str | None, tail: int, follow: bool) -> None:
    """Show the tasks' stdout and stderr."""
    view = load_view(env.store, check_job_name(job))
    if task_id is not None and view.problem is None and not any(t.get("id") == task_id for t in view.tasks):
        raise click.ClickException(f"job {job!r} has no task {task_id!r}")
    click.echo(f"Logs for job {job}:")
    try:
        offsets = print_logs(env.store, view, task_id, tail)
        if follow:
            follow_logs(env.store, job, task_id, offsets)
    except BaseException as exc:
        if not (follow and interrupted(exc)):
            raise
        # Ctrl-C is how one stops following: not an error.


@click.command()
@job_option()
@with_env(lenient=True)
def results(env: Env, job: str) -> int:
    """Print the job's results report; exit 1 unless the job completed."""
    view = load_view(env.store, check_job_name(job))
    if view.problem:
        raise click.ClickException(view.problem)
    if not view.done:
        raise click.ClickException(
            f"job {job} is {view.state_name}; its results are ready once it has finished "
            f"(progress: air-executor status --job {job})"
        )
    click.echo(format_results(view.state, view.tasks))
    return 0 if view.state.get("state") == lifecycle.COMPLETED else 1


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--name", help="Job name (overrides the file's name).")
@click.option("--wait", is_flag=True, help="Wait for the job to finish, showing progress.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after this many seconds.")
@click.option("--at", "at", metavar="TIME", help="Start it no earlier than TIME (ISO-8601; UTC unless it says).")
@click.option("--in", "delay", metavar="DURATION", help="Start it no earlier than DURATION from now: 90s, 10m, 2h, 1d.")
@click.option(
    "--priority",
    type=click.IntRange(*PRIORITY),
    help=f"Its priority, {PRIORITY[0]} to {PRIORITY[1]}: higher starts first when runners are scarce.",
)
@with_env
def submit(
    env: Env,
    file: Path,
    name: str | None,
    wait: bool,
    timeout: float | None,
    at: str | None,
    delay: str | None,
    priority: int | None,
) -> int:
    """Create a job from a YAML or JSON file ('-' reads standard input): {name, tasks: [...], ...}."""
    spec = _read_job_file(file)
    if isinstance(spec, dict):
        if at is not None or delay is not None:
            spec = {**spec, "not_before": _start_time(at, delay)}
        if priority is not None:
            spec = {**spec, "priority": priority}
    state = client.submit_spec(env.store, spec, name)
    count = len(env.store.read_tasks(state["name"]))
    click.echo(f"Submitted job {state['name']} ({count} task{'s' if count != 1 else ''})")
    if not wait:
        return 0
    try:
        if running_manager_pid(env.config.base) is None:
            click.echo("Note: no job manager is running on this base folder; the job waits until one starts.", err=True)
        final = wait_for_job(env.store, state["name"], timeout)
    except BaseException as exc:
        if not interrupted(exc):
            raise
        click.echo(_still_running(state["name"]), err=True)
        return 130
    if final.state_name != lifecycle.COMPLETED:
        raise click.ClickException(ending(final))
    click.echo(ending(final))
    return 0


def _start_time(at: str | None, delay: str | None) -> str:
    """`--at` or `--in` as the job's not_before (UTC); a time that has passed is refused."""
    if at is not None and delay is not None:
        raise click.UsageError("give --at or --in, not both")
    if delay is not None:
        try:
            return now_iso(time.time() + parse_duration(delay))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--in") from None
    when = parse_iso(at)
    if when is None:
        raise click.BadParameter(
            f"must be an ISO-8601 time such as 2026-12-04T18:00:00Z, got {at!r}", param_hint="--at"
        )
    if when <= time.time():
        raise click.BadParameter(f"{at} is in the past (now {now_iso()}); give a time to come", param_hint="--at")
    return now_iso(when)


def _read_job_file(file: Path) -> Any:
    if str(file) == "-":
        return client.parse_spec(sys.stdin.read(), "standard input")
    return client.load_spec_file(file)


def _still_running(job: str) -> str:
    """What Ctrl-C on `submit --wait` means: only the waiting stopped."""
    return (
        f"Stopped waiting; job {job} keeps running. Follow it with 'air-executor logs --job {job} --follow' "
        f"or 'air-executor status --job {job}'; stop it with 'air-executor cancel --job {job}'."
    )


@click.command()
@job_option()
@with_env
def reset(env: Env, job: str) -> None:
    """Return a failed or cancelled job to waiting; failed and never-run tasks run again."""
    wait_for_job_lock(env.store, check_job_name(job))
    count = client.reset_job(env.store, job)
    click.echo(f"Job {job} reset to waiting ({count} task{'s' if count != 1 else ''} back to pending)")


@click.command()
@job_option()
@click.option("--wait", is_flag=True, help="Wait until its running tasks have stopped.")
@click.option("--timeout", default=60.0, show_default=True, help="With --wait: give up after this many seconds.")
@with_env(lenient=True)
def cancel(env: Env, job: str, wait: bool, timeout: float) -> None:
    """Cancel a job: pending tasks now, running ones are stopped by the manager."""
    wait_for_job_lock(env.store, check_job_name(job))
    pending, running = client.cancel_job(env.store, job)
    click.echo(f"Cancelled job {job}: {pending} pending task(s) cancelled, {running} running task(s) being stopped")
    deadline = time.monotonic() + timeout
    while wait and load_view(env.store, job).count(lifecycle.RUNNING):
        if time.monotonic() > deadline:
            hint = "" if running_manager_pid(env.config.base) else " (no manager is running to stop them)"
            raise click.ClickException(f"running tasks of {job} still running after {timeout:g} s{hint}")
        time.sleep(0.2)
