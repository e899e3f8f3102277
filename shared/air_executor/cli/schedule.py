"""`air-executor schedule list|add|remove|pause|resume`: recurring jobs (README "Scheduling")."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from air_executor.cli.common import Env, with_env
from air_executor.cli.views import make_console, show_table, styled
from air_executor.core.clock import human, now_iso
from air_executor.core.schedule import run_name
from air_executor.errors import AirExecutorError, InvalidJob
from air_executor.storage import schedules as files


@click.group()
def schedule() -> None:
    """Recurring jobs: a job template run on a cron expression, kept in <base>/schedules/."""


@schedule.command("add")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--cron", required=True, help="When: '0 2 * * *' (five fields, or six with seconds last).")
@click.option("--timezone", default="UTC", show_default=True, help="The cron's time zone (IANA name).")
@click.option(
    "--catch-up",
    type=click.Choice(["one", "none"]),
    default="one",
    show_default=True,
    help="After downtime, run the latest missed time once (one) or not at all (none).",
)
@click.option("--allow-overlap", is_flag=True, help="Let a run start while the previous one is still going.")
@click.option("--paused", is_flag=True, help="Add it paused.")
@click.option("--replace", is_flag=True, help="Replace a schedule of that name.")
@with_env
def add(
    env: Env,
    name: str,
    file: Path,
    cron: str,
    timezone: str,
    catch_up: str,
    allow_overlap: bool,
    paused: bool,
    replace: bool,
) -> None:
    """Add schedule NAME running the job in FILE (YAML or JSON as for submit; its name is not used)."""
    from air_executor.cli.jobs import _read_job_file
    from air_executor.client import with_submit_dirs

    job = _read_job_file(file)
    if isinstance(job, dict) and "tasks" in job:  # its runs' tasks run where it was added
        job = {**job, "tasks": with_submit_dirs(job["tasks"])}
    sched = files.add(
        env.config.base,
        name,
        job,
        cron,
        timezone=timezone,
        catch_up=catch_up,
        allow_overlap=allow_overlap,
        paused=paused,
        replace=replace,
    )
    when = "paused" if paused else f"next run {_at(now_iso(sched.next_after(time.time())))} UTC"
    click.echo(f"Added schedule {name} ({cron} {timezone}): {when}")


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_env(lenient=True)
def list_(env: Env, as_json: bool) -> None:
    """Every schedule: its cron, state, next run and last run."""
    import json

    rows = [_row(env.config.base, name) for name in files.names(env.config.base)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    console = make_console()
    if not rows:
        console.print(styled(f"No schedules in {files.folder(env.config.base)}"), soft_wrap=True)
        return
    from rich.table import Table

    table = Table()
    for column in ("Schedule", "Cron", "Time zone", "State", "Next run (UTC)", "Last run (UTC)", "Last job"):
        table.add_column(column, no_wrap=column not in ("Schedule", "Last job"), overflow="fold")
    for row in rows:
        table.add_row(
            styled(row["name"]),
            styled(row["cron"]),
            styled(row["timezone"]),
            row["state"],
            _at(row["next_run"]),
            _at(row["last_run"]),
            styled(row["last_job"] or "-"),
        )
    show_table(console, table)
    for row in rows:
        if row["problem"]:
            console.print(styled(f"{row['name']}: {row['problem']}", "bold red"), soft_wrap=True)


def _row(base: Path, name: str) -> dict[str, Any]:
    state = files.read_state(base, name)
    last = state.get("last_due")
    row: dict[str, Any] = {"name": name, "cron": "-", "timezone": "-", "state": "invalid", "next_run": None}
    ran = last is not None and state.get("last_job") is not None  # else `last` is only when it was added
    row |= {"last_run": now_iso(last) if ran else None, "last_job": state.get("last_job"), "problem": None}
    try:
        sched, mtime = files.read(base, name)
    except AirExecutorError as exc:
        row["problem"] = str(exc)
        return row
    row |= {"cron": sched.cron, "timezone": sched.timezone, "state": "paused" if sched.paused else "active"}
    if not sched.paused:
        row["next_run"] = now_iso(sched.next_after(max(last or mtime, time.time() - 1)))
    return row


@schedule.command()
@click.argument("name")
@with_env(lenient=True)
def remove(env: Env, name: str) -> None:
    """Remove schedule NAME (the jobs it made stay)."""
    if not files.remove(env.config.base, name):
        raise InvalidJob(f"no schedule {name!r} in {files.folder(env.config.base)}")
    click.echo(f"Removed schedule {name}")


@schedule.command()
@click.argument("name")
@with_env
def pause(env: Env, name: str) -> None:
    """Pause schedule NAME: no runs until it is resumed."""
    files.set_paused(env.config.base, name, True)
    click.echo(f"Paused schedule {name}")


@schedule.command()
@click.argument("name")
@with_env
def resume(env: Env, name: str) -> None:
    """Resume schedule NAME; times that came while it was paused are not caught up."""
    sched = files.set_paused(env.config.base, name, False)
    nxt = sched.next_after(time.time())
    click.echo(f"Resumed schedule {name}: next run {_at(now_iso(nxt))} UTC ({run_name(name, nxt)})")


def _at(value: str | None) -> str:
    """A time to the second, for the table and messages."""
    return human(value)[:19]
