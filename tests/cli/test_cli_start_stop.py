"""`start` runs the manager in the background with a PID file; `stop` ends it; both say what they did."""

from __future__ import annotations

import re

import psutil
from conftest import Base, cli, error_line, wait_for


def _started_pid(stdout: str) -> int:
    match = re.fullmatch(r"Job manager started \(PID (\d+)\)\n", stdout)
    assert match, stdout
    return int(match.group(1))


def test_start_stop_and_their_messages(base: Base) -> None:
    """start prints its PID and writes manager.pid; a 2nd start fails; the manager runs jobs; stop ends it."""
    started = cli("start", base=base)
    assert started.returncode == 0, started.stderr
    pid = _started_pid(started.stdout)
    try:
        assert (base.path / "manager.pid").read_text().strip() == str(pid)
        assert psutil.Process(pid).is_running()
        again = error_line(cli("start", base=base))
        assert again == f"error: a job manager is already running on {base.path} (PID {pid})"
        base.submit("hello", [{"command": "echo", "args": ["hi"]}])
        assert base.wait_state("hello")["state"] == "completed"
        stopped = cli("stop", base=base)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout == f"Stopping job manager (PID {pid})...\nJob manager stopped\n"
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert (base.path / "manager.pid").read_text() == ""  # emptied, never deleted (see manager_lock.py)
    finally:
        if psutil.pid_exists(pid):
            psutil.Process(pid).kill()


def test_stop_when_no_manager_runs(base: Base) -> None:
    """stop with no manager prints a clean message and exits 0."""
    result = cli("stop", base=base)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"No job manager is running on {base.path}\n", "")


def test_start_with_a_custom_config_file(base: Base) -> None:
    """start --config FILE runs the manager with that file's settings."""
    custom = base.path / "custom.yaml"
    custom.write_text("poll_interval: 7\nlog_format: text\nlauncher: subprocess\n")
    pid = _started_pid(cli("start", "--config", str(custom), base=base).stdout)
    try:
        log = base.path / "manager.log"
        wait_for(lambda: "poll_interval 7 s" in log.read_text(), what="the manager's start-up line")
    finally:
        assert cli("stop", base=base).returncode == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_start_timeout_must_be_positive_and_a_late_manager_is_stopped(base: Base) -> None:
    """--timeout 0 is a usage error (nothing started); a manager not up in time is stopped, not left behind."""
    line = error_line(cli("start", "--timeout", "0", base=base), code=2)
    assert "Invalid value for '--timeout'" in line
    assert not (base.path / "manager.pid").exists()
    # No interpreter starts within a millisecond: the manager cannot be up in time.
    line = error_line(cli("start", "--timeout", "0.001", base=base))
    assert line.startswith("error: the job manager did not come up within 0.001 s and was stopped; see ")
    assert "Manager: not running" in cli("status", base=base).stdout
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(base.path) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
