"""`add-task`: queue a task in a job, from inside a running task or from outside.

Tasks run it in loops (README "Dynamic tasks"), so it is the one command kept off
click, rich and pydantic: argparse reads its options, the job store and the light
task path (client.light_task_doc) do the rest. `air-executor add-task ...` comes here
directly; `air-executor --base-path B add-task ...` through the click group.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from air_executor.cli.basics import Globals, check_base, fail, os_error_message, wait_for_job_lock
from air_executor.core.task_rules import RETRIES, RETRY_DELAY, TIMEOUT
from air_executor.errors import AirExecutorError, InvalidJob

PROG = "air-executor add-task"
HELP = "Queue COMMAND [ARGS]... in a job; prints the task's id."


class UsageProblem(Exception):
    """A mistake on the command line: exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageProblem(message)


class Formatter(argparse.HelpFormatter):
    # argparse builds a formatter for every add_argument, and a formatter without a width
    # imports shutil to ask the terminal: a fixed width keeps that off add-task's path.
    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=100)


def main(argv: list[str], given: Globals | None = None) -> int:
    """Run `add-task` with `argv` (after the command name); returns the exit code."""
    given = given or Globals()
    debug = given.debug
    try:
        options = parser().parse_args(argv)
        debug = debug or options.debug
        print(add_task(options, given))
    except UsageProblem as exc:
        print(f"error: {exc} (see '{PROG} --help')", file=sys.stderr)
        return 2
    except AirExecutorError as exc:
        return fail(str(exc), exc.exit_code, debug)
    except OSError as exc:
        return fail(os_error_message(exc), 1, debug)
    except KeyboardInterrupt:
        return 130
    return 0


def add_task(options: argparse.Namespace, given: Globals) -> str:
    """Queue the task the options describe; returns its id."""
    from air_executor import client, config_file
    from air_executor.storage.file_store import DEFAULT_BASE, FileStore

    job = options.job if options.job is not None else os.environ.get(client.ENV_JOB) or None
    if job is None:
        raise UsageProblem("missing option '--job' (inside a running task it defaults to the task's own job)")
    config_path = options.config or given.config_file
    explicit_base = options.base_path or given.base_path
    source = config_file.read(config_path, explicit_base, os.environ, config_file.GUARDRAILS, only_names=True)
    store = FileStore(source.values.get("base_path") or DEFAULT_BASE)
    check_base(store.base)
    guardrails = client.guardrails(store.base, config_path)
    spec = client.with_submit_dir(task_spec(options))
    wait_for_job_lock(store, job)
    return client.add_tasks(store, job, [spec], config=guardrails)[0]


def task_spec(options: argparse.Namespace) -> dict[str, object]:
    spec: dict[str, object] = {
        "command": options.command,
        "args": list(options.args),
        "dependencies": list(options.depends_on),
    }
    if options.id is not None:  # `--id ""` is a bad id, not "no id"
        spec["id"] = options.id
    if options.env:
        spec["env"] = env_pairs(options.env)
    for key in ("timeout", "retries", "retry_delay", "dedup_key", "cwd", "image"):
        if getattr(options, key) is not None:
            spec[key] = getattr(options, key)
    return spec


def env_pairs(values: list[str]) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidJob(f"--env takes KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def parser() -> Parser:
    p = Parser(prog=PROG, description=HELP, allow_abbrev=False, formatter_class=Formatter)
    p.add_argument("--job", help="job name (default: $AIR_EXECUTOR_JOB, set inside a running task)")
    p.add_argument("--id", help="task id (default: task-N)")
    p.add_argument("--depends-on", action="append", default=[], metavar="ID", help="a task that must complete first")
    p.add_argument("--timeout", type=number_in(int, TIMEOUT), metavar="S", help="seconds before the task is stopped")
    p.add_argument("--retries", type=number_in(int, RETRIES), metavar="N", help="extra attempts after a failure")
    p.add_argument("--retry-delay", type=number_in(float, RETRY_DELAY), metavar="S", help="seconds before a retry")
    p.add_argument("--dedup-key", metavar="K", help="queue only if no task of the job has this key yet")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="environment of the task (repeatable)")
    p.add_argument("--cwd", metavar="DIR", help="working directory (default: where add-task runs)")
    p.add_argument("--image", metavar="IMG", help="runner image for this task (Docker launcher)")
    p.add_argument("--base-path", metavar="DIR", help="base folder (default: $AIR_EXECUTOR_BASE_PATH or .air-executor)")
    p.add_argument("--config", metavar="FILE", help="config file (default: $AIR_EXECUTOR_CONFIG or <base>/config.yaml)")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("command", metavar="COMMAND", help="the program to run (no shell)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="its arguments, options included")
    return p


def number_in(kind: type[int] | type[float], bounds: tuple[int, int]) -> Callable[[str], int | float]:
    """An argparse type: a number of `kind` within `bounds` (the Task model's own bounds)."""

    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if not bounds[0] <= value <= bounds[1]:
            raise argparse.ArgumentTypeError(f"{text} is not between {bounds[0]} and {bounds[1]}")
        return value

    return convert
