"""Tables at 80 columns on a terminal, and in plain form for pipes: nothing split, times to the second."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios

from conftest import CLI, Base, ManagerProcess, cli, plain_table

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
LONG = "x" * 150


def cli_on_a_terminal(*args: str, base: Base, columns: int = 80) -> list[str]:
    """Run the CLI on a pseudo-terminal `columns` wide; its output lines without colour codes."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path), "COLUMNS": str(columns), "TERM": "xterm"}
    proc = subprocess.Popen([CLI, *args], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r", "").splitlines()


def _table_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line[:1] in "┏┃┡│└"]


def _jobs(base: Base) -> None:
    base.submit("a-rather-long-job-name-that-needs-folding", [{"id": "ok", "command": "echo"}])
    base.submit(
        "mixed",
        [
            {"id": "fine", "command": "echo", "args": [LONG]},
            {"id": "boom", "command": "sh", "args": ["-c", f"echo {LONG} >&2; exit 3"]},
            {"id": "after", "command": "echo", "dependencies": ["boom"]},
        ],
    )
    assert base.wait_state("a-rather-long-job-name-that-needs-folding")["state"] == "completed"
    assert base.wait_state("mixed")["state"] == "failed"


def test_status_fits_80_columns_without_splitting_states_or_times(base: Base, manager: ManagerProcess) -> None:
    """At 80 columns every line fits, states and times stay whole, and times have no microseconds."""
    _jobs(base)
    lines = cli_on_a_terminal("status", "--job", "mixed", base=base)
    text = "\n".join(lines)
    assert all(len(line) <= 80 for line in _table_lines(lines)), text
    assert not re.search(STAMP + r"\.\d", text), text
    rows = [line for line in lines if line.startswith("│")]
    assert any("completed" in r for r in rows) and any("skipped" in r for r in rows), text
    assert len(re.findall(STAMP, text)) == 1 + 2  # the job's Updated At, the two tasks that ran
    assert f"boom: sh exited with code 3: {LONG}" in lines  # a message is one line, wrapped by the terminal only
    every = cli_on_a_terminal("status", base=base)
    assert all(len(line) <= 80 for line in _table_lines(every)), "\n".join(every)
    assert "completed" in "\n".join(every) and len(re.findall(STAMP, "\n".join(every))) == 2


def test_status_in_a_pipe_is_plain_one_line_per_row(base: Base, manager: ManagerProcess) -> None:
    """Piped (even with COLUMNS=80): no box drawing, one line per job and per task, long cells unbroken."""
    _jobs(base)
    result = cli("status", "--job", "mixed", base=base, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert not set("┏┃│└━─") & set(result.stdout), result.stdout
    (job,) = plain_table(result.stdout, "Job Name")
    assert (job["Job Name"], job["State"], job["Tasks"]) == ("mixed", "failed", "1/3")
    tasks = {row["Task"]: row for row in plain_table(result.stdout, "Task ")}
    assert tasks["fine"]["Command"] == f"echo {LONG}"
    assert tasks["boom"]["Error"] == f"sh exited with code 3: {LONG}"
    assert (tasks["after"]["Status"], tasks["after"]["Started"], tasks["after"]["Error"]) == (
        "skipped",
        "-",
        "dependency 'boom' failed",
    )
    assert re.fullmatch(STAMP, tasks["fine"]["Started"]) and re.fullmatch(STAMP, job["Updated At"])
    every = cli("status", base=base, env={"COLUMNS": "80"}).stdout
    names = [row["Job Name"] for row in plain_table(every, "Job Name")]
    assert names == ["a-rather-long-job-name-that-needs-folding", "mixed"]
