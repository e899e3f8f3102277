"""Upkeep of a long-lived base folder: `backup`, `prune`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from air_executor.cli.common import Env, with_env
from air_executor.errors import AirExecutorError


class BackupIncomplete(AirExecutorError):
    pass


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--lock-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for each job's lock.",
)
@with_env
def backup(env: Env, file: Path, lock_timeout: float) -> None:
    """Write the base folder to FILE (.tar, .tar.gz, .tgz), safely while the manager runs.

    Restore: extract it into an empty base folder (tar -xzf FILE -C BASE) and start a manager
    there. Tasks running during the backup are stored pending: restored, they run again.
    """
    from air_executor.storage.backup import backup as write_backup

    summary = write_backup(env.store, file, lock_timeout=lock_timeout)
    click.echo(
        f"Backed up {len(summary.jobs)} job(s) from {env.config.base} to {file} ({summary.bytes / 2**20:.1f} MiB)"
    )
    for job, tasks in summary.requeued.items():
        click.echo(f"  {job}: running task(s) stored pending, to run again on restore: {', '.join(tasks)}")
    for job, why in summary.skipped.items():
        click.echo(f"warning: job {job} is not in the backup: {why}", err=True)
    if summary.skipped:
        raise BackupIncomplete(f"the backup leaves out {len(summary.skipped)} job(s) (see above)")


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from air_executor.core.retention import parse_duration

        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command()
@click.option("--older-than", type=Duration(), help="Only jobs finished longer ago than this (e.g. 7d, 12h, 30m).")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(["completed", "failed", "cancelled"]),
    help="Only jobs that ended so (repeatable; default: all three).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@with_env
def prune(env: Env, older_than: float | None, states: tuple[str, ...], dry_run: bool) -> None:
    """Remove finished jobs (their folders and logs); waiting and working jobs are never touched."""
    from air_executor.core.clock import ago
    from air_executor.storage.prune import finished_jobs, remove_job

    now = time.time()
    wanted = set(states or ("completed", "failed", "cancelled"))
    chosen = [
        job
        for job in sorted(finished_jobs(env.store), key=lambda j: j.finished_at)
        if job.state in wanted and (older_than is None or now - job.finished_at > older_than)
    ]
    if not chosen:
        click.echo("No finished job matches; nothing to remove.")
        return
    removed = 0
    for job in chosen:
        age = ago(now - job.finished_at)
        if dry_run:
            click.echo(f"would remove {job.name} ({job.state} {age} ago)")
            continue
        why = remove_job(env.store, job)
        if why is None:
            removed += 1
            click.echo(f"removed {job.name} ({job.state} {age} ago)")
        else:
            click.echo(f"kept {job.name}: {why}")
    if dry_run:
        click.echo(f"{len(chosen)} job(s) would be removed (--dry-run: nothing was).")
    else:
        click.echo(f"Removed {removed} job(s).")
