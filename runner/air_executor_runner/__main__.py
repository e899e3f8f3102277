"""Entry point: ``python -m air_executor_runner BASE JOB TASK LAUNCH_ID``."""

from __future__ import annotations

import os
import sys

from air_executor_runner import EXIT_UNRECORDED, EXIT_USAGE

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
    if os.environ.get(SECRETS_ENV) == SECRETS_ON_STDIN and not _secrets_from_stdin():
        return EXIT_UNRECORDED
    from air_executor_runner.execute import run_task

    return run_task(*args)


SECRETS_ENV = "AIR_EXECUTOR_SECRETS"  # launchers/base.py; execute.py takes it out of the environment
SECRETS_ON_STDIN = "stdin"  # a runner container: the values come on stdin, never in its config
HANDOVER_WAIT = 60.0  # seconds; a manager that created the container but died never sends them


def _secrets_from_stdin() -> bool:
    """Read the task's secrets (one JSON line) from stdin into the runner's environment, where the
    runner takes them out before the task starts; `docker inspect` shows only the word `stdin`."""
    import select
    import time

    data, deadline = b"", time.monotonic() + HANDOVER_WAIT
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([0], [], [], left)[0]:
            print(
                f"air-executor-runner: the task's secrets were not handed over within {HANDOVER_WAIT:g} s",
                file=sys.stderr,
            )
            return False
        chunk = os.read(0, 65536)
        if not chunk:
            break
        data += chunk
    os.environ[SECRETS_ENV] = data.decode("utf-8", "replace").strip()
    return True


if __name__ == "__main__":
    sys.exit(main())
