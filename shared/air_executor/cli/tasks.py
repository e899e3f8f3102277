"""`add-task`: queue a task in a job, from inside a running task or from outside."""

from __future__ import annotations

from typing import Any

import click

from air_executor import client
from air_executor.cli.common import Env, wait_for_job_lock, with_env
from air_executor.errors import InvalidJob


def _env_pairs(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidJob(f"--env takes KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


@click.command("add-task", context_settings={"allow_interspersed_args": False})
@click.option("--job", envvar="AIR_EXECUTOR_JOB", required=True, help="Job name (default: $AIR_EXECUTOR_JOB).")
@click.option("--id", "task_id", help="Task id (default: task-N).")
@click.option("--depends-on", multiple=True, help="A task id that must complete first (repeatable).")
@click.option("--timeout", type=click.IntRange(1, 86_400), help="Seconds before the task is stopped.")
@click.option("--retries", type=click.IntRange(0, 100), help="Extra attempts after a failure.")
@click.option("--retry-delay", type=click.FloatRange(0, 86_400), help="Seconds before the first retry.")
@click.option("--dedup-key", help="Queue only if no task of the job has this key yet.")
@click.option("--env", "env_pairs", multiple=True, help="KEY=VALUE for the task's environment (repeatable).")
@click.option("--cwd", help="Working directory of the command.")
@click.option("--image", help="Runner image for this task (Docker launcher).")
@click.argument("command")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@with_env
def add_task(
    env: Env,
    job: str,
    task_id: str | None,
    depends_on: tuple[str, ...],
    command: str,
    args: tuple[str, ...],
    env_pairs: tuple[str, ...],
    **options: Any,
) -> None:
    """Queue COMMAND [ARGS]... in a job; prints the task's id.

    Inside a running task the job defaults to the task's own and the new task
    records it as its parent.
    """
    spec: dict[str, Any] = {"command": command, "args": list(args), "dependencies": list(depends_on)}
    if task_id is not None:  # `--id ""` is a bad id, not "no id"
        spec["id"] = task_id
    if env_pairs:
        spec["env"] = _env_pairs(env_pairs)
    spec.update({key: value for key, value in options.items() if value is not None})
    wait_for_job_lock(env.store.job_folder(job), job)
    click.echo(client.add_tasks(env.store, job, [client.with_submit_dir(spec)], config=env.config)[0])
