"""``python -m air_executor_manager [--config FILE] [--base-path DIR]``: the manager in the foreground.

`air-executor run` execs this; `air-executor start` runs it in the background.
"""

from __future__ import annotations

import argparse
import logging
import sys

from air_executor.config import Config
from air_executor.errors import AirExecutorError
from air_executor.storage import file_format
from air_executor.storage.manager_lock import ManagerLock

log = logging.getLogger("air_executor.manager")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="air-executor-manager", description=__doc__)
    parser.add_argument("--config", help="config file (default: <base>/config.yaml)")
    parser.add_argument("--base-path", help="base folder (default: .air-executor)")
    args = parser.parse_args(argv)
    try:
        config = Config.load(args.config, args.base_path)
        from air_executor_manager.logging_setup import setup_logging

        setup_logging(config.log_level, config.log_format)
        lock = ManagerLock(config.base)
        lock.acquire()
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


if __name__ == "__main__":
    sys.exit(main())
