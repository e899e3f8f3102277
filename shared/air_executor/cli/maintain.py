"""Upkeep of a long-lived base folder: `backup`."""

from __future__ import annotations

from pathlib import Path

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
