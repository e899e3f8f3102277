"""Task commands for the manager and runner tests, and ways to read what they left behind.

Commands are real programs (the venv's Python with `-c`, or small shell scripts
written into tmp_path). They record what happened in files (timestamped marks,
pids, counters), so tests assert ordering and overlap from those records,
never from how long something took.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psutil

PY = sys.executable
CLI = str(Path(sys.executable).parent / "air-executor")

# argv: MARKS LABEL SLEEP BARRIER_DIR NEED
# Appends "LABEL start T" and "LABEL end T" to MARKS; if NEED > 0, first drops
# LABEL into BARRIER_DIR and waits until NEED labels are there (exit 7 after 30 s,
# which only stops a hang: a test then fails on the task's status).
MARK_SCRIPT = r"""
import os, sys, time
marks, label, pause, bdir, need = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
def mark(kind):
    fd = os.open(marks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.write(fd, f"{label} {kind} {time.time():.6f}\n".encode())
    os.close(fd)
mark("start")
if need:
    open(os.path.join(bdir, label), "w").close()
    deadline = time.monotonic() + 30
    while len(os.listdir(bdir)) < need:
        if time.monotonic() > deadline:
            mark("barrier-timeout")
            sys.exit(7)
        time.sleep(0.01)
time.sleep(pause)
mark("end")
"""


def mark_task(
    task_id: str,
    marks: Path,
    *,
    sleep: float = 0.0,
    barrier: Path | None = None,
    need: int = 0,
    **fields: Any,
) -> dict[str, Any]:
    """A task that records its start and end in `marks` (optionally meeting others at a barrier first)."""
    if barrier is not None:
        writable_dir(barrier)
    args = ["-c", MARK_SCRIPT, str(marks), task_id, str(sleep), str(barrier or ""), str(need)]
    return {"id": task_id, "command": PY, "args": args, **fields}


def read_intervals(marks: Path) -> dict[str, tuple[float, float]]:
    """`{label: (start, end)}` from a marks file; a label with no end is an error."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for line in marks.read_text().splitlines():
        label, kind, stamp = line.split()
        assert kind in ("start", "end"), f"unexpected mark {line!r}"
        target = starts if kind == "start" else ends
        assert label not in target, f"{label} {kind} recorded twice: the task ran twice"
        target[label] = float(stamp)
    assert starts.keys() == ends.keys(), f"unfinished: {set(starts) ^ set(ends)}"
    return {label: (starts[label], ends[label]) for label in starts}


def max_overlap(intervals: Any) -> int:
    """The largest number of intervals open at one instant (touching ends do not overlap)."""
    events = []
    for start, end in intervals:
        assert start <= end, (start, end)
        events += [(start, 1), (end, -1)]
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def runner_intervals(tasks: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Each run's [started_at, completed_at] as recorded by its runner."""
    from air_executor.core.clock import parse_iso

    out = []
    for task in tasks:
        start, end = parse_iso(task.get("started_at")), parse_iso(task.get("completed_at"))
        assert start is not None and end is not None, task
        out.append((start, end))
    return out


def writable_dir(path: Path) -> Path:
    """A folder tasks may write in. Run as root, the manager runs tasks as their job folder's
    owner (uid 10001 for the root-owned folders tests make), so it is open to everyone, like /tmp."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o1777)
    return path


def write_script(path: Path, text: str) -> str:
    """An executable script file (shell or Python, by its #! line); returns its path."""
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, which nothing here reaps, counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def read_pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def naive_write(path: Path, doc: Any) -> None:
    """Write a document the way the seeds' client does: plain json.dump, no lock, no rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(doc, handle, indent=2)


def naive_job(jobs: Path, name: str, tasks: list[dict[str, Any]], state: str = "waiting", **extra: Any) -> Path:
    """A job written by a naive outside writer (state.json + tasks.json, seed fields only)."""
    stamp = "2025-10-02T07:30:15.123456Z"
    job_dir = jobs / name
    docs = []
    for spec in tasks:
        doc = {
            "id": spec["id"],
            "job_name": name,
            "command": spec["command"],
            "args": spec.get("args", []),
            "dependencies": spec.get("dependencies", []),
            "status": "pending",
            "created_at": stamp,
            "started_at": None,
            "completed_at": None,
            "error": None,
        }
        doc.update({k: v for k, v in spec.items() if k not in doc or k == "status"})
        docs.append(doc)
    naive_write(job_dir / "tasks.json", docs)
    naive_write(
        job_dir / "state.json",
        {"id": f"id-{name}", "name": name, "state": state, "created_at": stamp, "updated_at": stamp, **extra},
    )
    return job_dir


def proc_reads(pid: int) -> int:
    """The number of read syscalls a process has made (/proc/PID/io `syscr`)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "syscr":
            return int(value)
    raise AssertionError(f"no syscr in /proc/{pid}/io")


def runner_pid(task: dict[str, Any]) -> int:
    """The runner's pid, from `runner_id` ("pid:starttime") or `runner_pid`."""
    runner_id = task.get("runner_id")
    if isinstance(runner_id, str) and ":" in runner_id:
        return int(runner_id.split(":", 1)[0])
    return int(task["runner_pid"])


def free_port() -> int:
    """A loopback port nothing listens on (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_published: dict[tuple[str, str], int] = {}


def published_port(project: str, setting: str) -> int:
    """The host port a compose project publishes a service on (`setting`: METRICS_PORT,
    DASHBOARD_PORT): one per project, so stacks of parallel test workers never claim the same one."""
    return _published.setdefault((project, setting), free_port())


def compose_ports(project: str) -> dict[str, str]:
    """The environment that gives a compose project its own host ports."""
    return {setting: str(published_port(project, setting)) for setting in ("METRICS_PORT", "DASHBOARD_PORT")}


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample a manager's Prometheus endpoint serves, by (name, sorted labels)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape_soon(port: int) -> Samples:
    """What /metrics says; nothing while the manager is still starting its endpoint."""
    try:
        return scrape(port)
    except OSError:
        return {}


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def standby(base: Any) -> subprocess.Popen[bytes]:
    """`air-executor run --standby` on `base` in the background, logging to base/standby.log."""
    from conftest import CLI, wait_for

    log = open(base.path / "standby.log", "ab")  # noqa: SIM115 (the process holds it)
    proc = subprocess.Popen(
        [CLI, "run", "--standby"],
        stdout=log,
        stderr=log,
        env={**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)},
        start_new_session=True,
    )
    wait_for(lambda: "standby on" in (base.path / "standby.log").read_text(), what="the standby to wait")
    return proc


def files_holding(base: Path, *values: str) -> list[str]:
    """Every regular file under `base` (logs, journal, state, manager log...) holding one of `values`
    (a secret's value must be in none of them, README "Trust model")."""
    found = []
    for root, _dirs, files in os.walk(base):
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            found += [f"{path}: {v[:4]}..." for v in values if v.encode() in data]
    return found
