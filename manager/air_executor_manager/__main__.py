"""``python -m air_executor_manager [--config FILE] [--base-path DIR] [--standby]``: the manager in the foreground.

`air-executor run` execs this; `air-executor start` runs it in the background. With `--standby`
(or `AIR_EXECUTOR_STANDBY=1`) a manager that finds another one active waits and takes over when
that one stops or dies (README "Standby managers").
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from air_executor.config import Config
from air_executor.errors import AirExecutorError
from air_executor.storage import file_format
from air_executor.storage.manager_lock import ManagerLock

log = logging.getLogger("air_executor.manager")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="air-executor-manager", description=__doc__)
    parser.add_argument("--config", help="config file (default: <base>/config.yaml)")
    parser.add_argument("--base-path", help="base folder (default: .air-executor)")
    parser.add_argument(
        "--standby",
        action="store_true",
        default=os.environ.get("AIR_EXECUTOR_STANDBY", "").lower() in ("1", "true", "yes"),
        help="if another manager is active, wait and take over when it stops",
    )
    args = parser.parse_args(argv)
    try:
        config = Config.load(args.config, args.base_path)
        from air_executor_manager.secrets import check_secrets_dir

        check_secrets_dir(config)  # a secrets folder others can read is refused before anything starts
        from air_executor_manager.logging_setup import setup_logging

        setup_logging(config.log_level, config.log_format)
        lock = ManagerLock(config.base)
        waited: list[str] = []
        lock.acquire(standby=_wait_notice(config, waited) if args.standby else None)
        if waited:
            log.info("taking over on %s: manager PID %s is gone; its runners are adopted", config.base, waited[0])
        try:
            file_format.claim_base(config.base)  # a base folder of a newer release is refused untouched
        except (AirExecutorError, OSError):
            lock.release()
            raise
    except (AirExecutorError, OSError) as exc:
        print(f"air-executor-manager: {exc}", file=sys.stderr)
        return 1
    try:
        from air_executor_manager.manager import Manager

        Manager(config).run()
    except AirExecutorError as exc:
        log.error("%s", exc)
        return 1
    finally:
        lock.release()
    return 0


def _wait_notice(config: Config, waited: list[str]) -> Any:
    def notice(pid: str) -> None:
        waited.append(pid)
        log.info("standby on %s: manager PID %s is active; taking over when it stops", config.base, pid)

    return notice


if __name__ == "__main__":
    sys.exit(main())
