"""Which release's files these are: the format version of job files and of a base folder.

1  release 0.1 and the seeds: state.json and tasks.json hold everything (no version field)
2  the journal (runs/, queue/, ids/ beside tasks.json: storage/journal.py); state.json says
   `"format_version": 2` and the base folder holds a `format` file

This release reads every format up to its own and upgrades a job when it next writes it; files of
a newer format are refused untouched (a downgrade must not rewrite what it does not understand).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMAT_VERSION = 2
FIELD = "format_version"
BASE_FILE = "format"


def newer_than_ours(version: Any) -> bool:
    return isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION


def refusal(where: str, version: Any) -> str:
    return (
        f"{where} was written by a newer release of Air-Executor (format {version}; this one reads "
        f"format {FORMAT_VERSION} and older): upgrade Air-Executor to use it"
    )


def check_state(state: dict[str, Any], where: str) -> None:
    """Refuse a job whose state.json a newer release wrote."""
    version = state.get(FIELD)
    if newer_than_ours(version):
        from air_executor.errors import NewerFormat

        raise NewerFormat(refusal(where, version))


def claim_base(base: str | os.PathLike[str]) -> None:
    """At a manager's start: refuse a base folder of a newer release, else mark it as ours."""
    from air_executor.errors import NewerFormat

    path = os.path.join(base, BASE_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(64).strip()
    except FileNotFoundError:
        text = ""
    if text:
        try:
            version: Any = int(text)
        except ValueError:
            version = None
        if version is None or newer_than_ours(version):
            raise NewerFormat(refusal(f"the base folder {os.fspath(base)}", text))
        if version == FORMAT_VERSION:
            return
    from pathlib import Path

    from air_executor.storage.manager_lock import write_small

    write_small(Path(path), f"{FORMAT_VERSION}\n".encode())
