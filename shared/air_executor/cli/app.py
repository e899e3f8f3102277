"""`air-executor`: the group, and turning every error into one clear line."""

from __future__ import annotations

import sys
import traceback

import click

from air_executor import __version__
from air_executor.cli import jobs, manage, tasks
from air_executor.cli.common import GLOBALS, global_options
from air_executor.errors import AirExecutorError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="air-executor")
@global_options
def cli() -> None:
    """Air-Executor: jobs of tasks kept as files, run by ephemeral runners.

    --base-path, --config and --debug may also come after the command.
    """


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
    tasks.add_task,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: exit 0 on success, 1 on an error, 2 on bad usage."""
    args = sys.argv[1:] if argv is None else argv
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
        return _fail(str(exc), exc.exit_code)
    except OSError as exc:  # a file system problem we did not foresee: still one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", 1)
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


def _fail(message: str, code: int) -> int:
    if GLOBALS.debug:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
