"""`air-executor`: the group, and turning every error into one clear line."""

from __future__ import annotations

import sys
import traceback

import click

from air_executor import __version__
from air_executor.cli import jobs, manage, tasks
from air_executor.errors import AirExecutorError

_debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="air-executor")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
def cli(debug: bool) -> None:
    """Air-Executor: jobs of tasks kept as files, run by ephemeral runners."""
    global _debug
    _debug = debug


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
    try:
        result = cli.main(args=argv, prog_name="air-executor", standalone_mode=False)
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
        if _debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
