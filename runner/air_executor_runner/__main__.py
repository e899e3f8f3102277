"""Entry point: ``python -m air_executor_runner BASE JOB TASK LAUNCH_ID``."""

from __future__ import annotations

import sys

from air_executor_runner import EXIT_USAGE

USAGE = (
    "usage: python -m air_executor_runner BASE_PATH JOB_NAME TASK_ID LAUNCH_ID"
    " (or --standby BASE_PATH JOB_NAME LAUNCH_ID)"
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from air_executor import __version__

        print(f"air-executor-runner {__version__}")
        return 0
    if len(args) == 4 and args[0] == "--standby" and all(args):
        from air_executor_runner.standby import run_standby

        return run_standby(*args[1:])
    if len(args) != 4 or not all(args):
        print(f"air-executor-runner: {USAGE}", file=sys.stderr)
        return EXIT_USAGE
    from air_executor_runner.execute import run_task

    return run_task(*args)


if __name__ == "__main__":
    sys.exit(main())
