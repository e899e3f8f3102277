"""Schedule files on the volume: `<base>/schedules/<name>.yaml` and the manager's `<name>.state.json`.

The folder is writable by job authors like the rest of the volume, so files are opened as job
files are: no symlink followed, no FIFO waited on, nothing over 1 MiB read; writes are atomic.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from air_executor.core.clock import now_iso, parse_iso
from air_executor.core.schedule import MAX_FILE_BYTES, SCHEDULES_DIR, STATE_SUFFIX, Schedule, check_schedule_name
from air_executor.errors import InvalidJob
from air_executor.storage.manager_lock import write_small

SUFFIX = ".yaml"
_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def folder(base: Path) -> Path:
    return base / SCHEDULES_DIR


def names(base: Path) -> list[str]:
    """Every schedule's name (files `<name>.yaml`), sorted."""
    try:
        entries = os.listdir(folder(base))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e[: -len(SUFFIX)] for e in entries if e.endswith(SUFFIX) and not e.startswith("."))


def signature(base: Path, name: str) -> tuple[int, ...] | None:
    try:
        st = os.lstat(folder(base) / f"{name}{SUFFIX}")
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def read_raw(base: Path, name: str) -> tuple[Any, float]:
    """The schedule file's document and its modification time; InvalidJob (one line) if it cannot be read."""
    import yaml

    path = folder(base) / f"{check_schedule_name(name)}{SUFFIX}"
    try:
        fd = os.open(path, os.O_RDONLY | _SAFE)
    except FileNotFoundError:
        raise InvalidJob(f"no schedule {name!r} in {folder(base)}") from None
    except OSError as exc:
        raise InvalidJob(f"schedule {name!r}: cannot open {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidJob(f"schedule {name!r}: {path} is not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise InvalidJob(f"schedule {name!r}: {path} is over {MAX_FILE_BYTES >> 20} MiB")
        text = os.read(fd, MAX_FILE_BYTES + 1).decode(errors="replace")
    finally:
        os.close(fd)
    try:
        return yaml.load(text, Loader=_no_alias_loader()), st.st_mtime  # noqa: S506 (a SafeLoader without aliases)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InvalidJob(f"schedule {name!r}: {path} is not valid YAML{where}: {_problem(exc)}") from None
    except RecursionError:
        raise InvalidJob(f"schedule {name!r}: {path} is nested too deeply") from None


def _problem(exc: Exception) -> str:
    return str(getattr(exc, "problem", None) or exc).splitlines()[0]


def _no_alias_loader() -> Any:
    """yaml's SafeLoader refusing anchors' aliases: a file anyone on the volume can write must not
    expand a few kilobytes into gigabytes (the "billion laughs")."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed in a schedule file", event.start_mark
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def read(base: Path, name: str) -> tuple[Schedule, float]:
    """The validated schedule and its file's modification time."""
    doc, mtime = read_raw(base, name)
    return Schedule.parse(doc, name), mtime


def write(base: Path, name: str, doc: dict[str, Any]) -> None:
    """Write a schedule file atomically (validated first)."""
    import yaml

    Schedule.parse(doc, name)
    _write(base, f"{name}{SUFFIX}", yaml.safe_dump(doc, sort_keys=False).encode())


def add(
    base: Path,
    name: str,
    job: Any,
    cron: str,
    *,
    timezone: str = "UTC",
    catch_up: str = "one",
    allow_overlap: bool = False,
    paused: bool = False,
    replace: bool = False,
) -> Schedule:
    """Write schedule `name` (validated, its job as `submit` would check it); counting from now,
    nothing before is missed. Refuses an existing one unless `replace`."""
    import time

    check_schedule_name(name)
    if not replace and signature(base, name) is not None:
        raise InvalidJob(f"schedule {name!r} exists already; --replace replaces it")
    if isinstance(job, dict):
        job = {k: v for k, v in job.items() if k != "name"}
    doc = {"cron": cron, "timezone": timezone, "catch_up": catch_up, "allow_overlap": allow_overlap}
    write(base, name, {**doc, "paused": paused, "job": job})
    write_state(base, name, time.time(), None)
    return read(base, name)[0]


def set_paused(base: Path, name: str, paused: bool) -> Schedule:
    """Pause or resume; what came due while paused is not caught up."""
    import time

    doc, _ = read_raw(base, name)
    read(base, name)  # refuse to touch a broken one: fix the file first
    state = read_state(base, name)
    write(base, name, {**doc, "paused": paused})
    if not paused:
        write_state(base, name, time.time(), state.get("last_job"))
    return read(base, name)[0]


def remove(base: Path, name: str) -> bool:
    """Remove a schedule and its state; False if there was none."""
    removed = False
    for file in (f"{check_schedule_name(name)}{SUFFIX}", f"{name}{STATE_SUFFIX}"):
        try:
            os.unlink(folder(base) / file)
            removed = removed or file.endswith(SUFFIX)
        except FileNotFoundError:
            pass
    return removed


def read_state(base: Path, name: str) -> dict[str, Any]:
    """What the manager last did with this schedule: `{last_due: epoch, last_job: str}` (empty if nothing)."""
    path = folder(base) / f"{name}{STATE_SUFFIX}"
    try:
        fd = os.open(path, os.O_RDONLY | _SAFE)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        doc = json.loads(os.read(fd, 65536) or b"{}")
    except (OSError, ValueError):
        return {}
    finally:
        os.close(fd)
    if not isinstance(doc, dict):
        return {}
    last_due = parse_iso(doc.get("last_due")) if isinstance(doc.get("last_due"), str) else None
    last_job = doc.get("last_job") if isinstance(doc.get("last_job"), str) else None
    return {k: v for k, v in (("last_due", last_due), ("last_job", last_job)) if v is not None}


def write_state(base: Path, name: str, last_due: float, last_job: str | None) -> None:
    doc = {"last_due": now_iso(last_due), "last_job": last_job}
    _write(base, f"{name}{STATE_SUFFIX}", json.dumps(doc).encode())


def _write(base: Path, file: str, data: bytes) -> None:
    folder(base).mkdir(parents=True, exist_ok=True)
    write_small(folder(base) / file, data, durable=True)
