"""`air-executor`'s entry point: most commands go through click; two stay light.

Every CLI call pays its imports, and tasks call `add-task` in loops (README "Dynamic
tasks"): `--version` and `add-task` therefore skip click, rich and pydantic, which
would take several times a bare interpreter's start (README "Benchmarks").
"""

from __future__ import annotations

import sys

from air_executor import __version__


def main(argv: list[str] | None = None) -> int:
    """Console entry point: exit 0 on success, 1 on an error, 2 on bad usage."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        print(f"air-executor, version {__version__}")  # as click's version option words it
        return 0
    if args[:1] == ["add-task"]:
        from air_executor.cli import addtask

        return addtask.main(args[1:])
    from air_executor.cli import group

    return group.main(args)


if __name__ == "__main__":
    sys.exit(main())
