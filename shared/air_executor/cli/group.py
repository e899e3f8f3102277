"""The click group behind every command but a direct `air-executor add-task`, and its one-line errors."""

from __future__ import annotations

import sys

import click

from air_executor import __version__
from air_executor.cli import jobs, maintain, manage
from air_executor.cli.basics import GLOBALS, fail, interrupted, os_error_message
from air_executor.cli.common import global_options
from air_executor.cli.dashboard import dashboard
from air_executor.cli.schedule import schedule
from air_executor.errors import AirExecutorError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="air-executor")
@global_options
def cli() -> None:
    """Air-Executor: jobs of tasks kept as files, run by ephemeral runners.

    --base-path, --config and --debug may also come after the command.
    """


@click.command(
    "add-task",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def add_task(argv: tuple[str, ...]) -> int:
    """Queue COMMAND [ARGS]... in a job; prints the task's id (see add-task --help)."""
    from air_executor.cli import addtask  # its options and errors are its own (argparse, no click)

    return addtask.main(list(argv), GLOBALS)


for command in (
    manage.start,
    manage.stop,
    manage.run,
    jobs.status,
    jobs.logs,
    jobs.results,
    jobs.submit,
    jobs.reset,
    jobs.cancel,
    add_task,
    maintain.backup,
    maintain.prune,
    dashboard,
    schedule,
):
    cli.add_command(command)


def main(args: list[str]) -> int:
    """Run a command through click: exit 0 on success, 1 on an error, 2 on bad usage."""
    GLOBALS.reset()
    if not args:  # a bare `air-executor` asks what it can do: that is help, not a mistake
        click.echo(cli.get_help(click.Context(cli, info_name="air-executor")))
        return 0
    try:
        result = cli.main(args=args, prog_name="air-executor", standalone_mode=False)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "air-executor"
        print(f"error: {exc.format_message()} (see '{command} --help')", file=sys.stderr)
        return 2
    except click.ClickException as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except click.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except AirExecutorError as exc:
        return fail(str(exc), exc.exit_code, GLOBALS.debug)
    except OSError as exc:  # a file system problem we did not foresee: still one line, not a traceback
        return fail(os_error_message(exc), 1, GLOBALS.debug)
    except BaseException as exc:
        if interrupted(exc):
            return 130
        raise
    return result if isinstance(result, int) else 0
