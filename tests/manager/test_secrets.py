"""Secrets a task names (README "Trust model"): read by a real manager from the operator's folder at
launch, granted per job folder owner, seen by the task in its environment, masked in its log, and
written nowhere on the volume; refusals are one line that fails only their own task."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from conftest import Base, ManagerProcess, cli, error_line
from taskkit import PY, files_holding, naive_job

VALUE = "s3cr3t-Value-9f2c1e7b-do-not-leak"
TOKEN = "tok-41d8cd98f00b204e9800998ecf8427e"  # a task env value under a key that looks secret
RUNNER_UID = 10001 if os.geteuid() == 0 else os.geteuid()  # who runs the tasks of the tests' job folders

# Prints the secret in pieces (each flushed on its own, so the log gets it split across chunks), and
# its digest to a file outside the volume, to show the task had the real value.
SHOW = r"""
import hashlib, os, sys, time
value = os.environ["DB_PASSWORD"]
half = len(value) // 2
sys.stdout.write("pw=" + value[:half]); sys.stdout.flush(); time.sleep(0.3)
sys.stdout.write(value[half:] + " end\n"); sys.stdout.flush()
print("token=" + os.environ["API_TOKEN"], flush=True)
print("again:", value, file=sys.stderr, flush=True)
print("handoff:", "AIR_EXECUTOR_SECRETS" in os.environ, flush=True)
open(sys.argv[1], "w").write(hashlib.sha256(value.encode()).hexdigest())
"""


def _secrets_dir(tmp_path: Path, **values: str) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    for name, value in values.items():
        path = folder / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    return folder


def test_a_task_gets_its_secret_masked_in_its_log_and_nowhere_on_the_volume(base: Base, tmp_path: Path) -> None:
    folder = _secrets_dir(tmp_path, DB_PASSWORD=VALUE)
    base.config(secrets_dir=str(folder), secret_grants={str(RUNNER_UID): ["DB_PASSWORD"]})
    out = tmp_path / "digest"
    out.parent.chmod(0o1777)
    task = {
        "id": "show",
        "command": PY,
        "args": ["-c", SHOW, str(out)],
        "secrets": ["DB_PASSWORD"],
        "env": {"API_TOKEN": TOKEN, "GREETING": "hello"},
    }
    base.submit("sec", [task])
    manager = ManagerProcess(base).start()
    try:
        state = base.wait_state("sec")
    finally:
        manager.stop()
    assert state["state"] == "completed", (base.tasks("sec"), manager.log())
    assert out.read_text() == hashlib.sha256(VALUE.encode()).hexdigest()  # the task saw the real value
    log = base.log("sec", "show")
    assert "pw=*** end" in log and "again: ***" in log and "token=***" in log, log
    assert "handoff: False" in log  # the runner's hand-over of the values is not in the task's env
    assert files_holding(base.path, VALUE) == []
    assert TOKEN not in log  # (an env value is in the job file as written: the job author wrote it there)
    # The job file keeps the env as written; what is shown of it hides the secret-looking value.
    assert base.task("sec", "show")["env"]["API_TOKEN"] == TOKEN
    from air_executor.dashboard.jobdata import task_view

    view = task_view(base.task("sec", "show"))
    assert view["env"] == {"API_TOKEN": "***", "GREETING": "hello"} and view["secrets"] == ["DB_PASSWORD"]
    shown = cli("status", "--job", "sec", base=base).stdout + cli("results", "--job", "sec", base=base).stdout
    shown += cli("logs", "--job", "sec", base=base).stdout
    assert VALUE not in shown and "pw=*** end" in shown


def test_an_ungranted_or_unknown_secret_fails_its_task_in_one_line_and_no_other_job(base: Base, tmp_path: Path) -> None:
    folder = _secrets_dir(tmp_path, DB_PASSWORD=VALUE, OTHER=VALUE + "2")
    # The grants come from the environment here, as every setting can (JSON for a mapping).
    grants = json.dumps({"*": ["MISSING"], str(RUNNER_UID + 1): ["OTHER"]})
    base.submit("ungranted", [{"id": "t", "command": "true", "secrets": ["OTHER"]}])
    base.submit("unknown", [{"id": "t", "command": "true", "secrets": ["MISSING"]}])
    naive_job(base.path / "jobs", "bad-name", [{"id": "t", "command": "true", "secrets": ["not-a-name"]}])
    base.submit("fine", [{"id": "t", "command": "echo", "args": ["fine"]}])
    manager = ManagerProcess(base).start(AIR_EXECUTOR_SECRETS_DIR=str(folder), AIR_EXECUTOR_SECRET_GRANTS=grants)
    try:
        states = {name: base.wait_state(name) for name in ("ungranted", "unknown", "bad-name", "fine")}
    finally:
        manager.stop()
    assert states["fine"]["state"] == "completed" and base.log("fine", "t") == "fine\n"
    errors = {name: base.task(name, "t")["error"] for name in ("ungranted", "unknown", "bad-name")}
    assert all(states[name]["state"] == "failed" for name in errors), states
    assert all("\n" not in error for error in errors.values()), errors
    assert f"secret 'OTHER' is not granted to the job folder's owner, uid {RUNNER_UID}" in errors["ungranted"]
    assert "secret_grants" in errors["ungranted"]
    assert f"secret 'MISSING' is not defined: no file MISSING in {folder}" in errors["unknown"]
    assert "each secret must be an environment variable name" in errors["bad-name"], errors
    assert files_holding(base.path, VALUE) == []


def test_a_secrets_folder_inside_the_volume_or_open_to_others_is_refused_naming_the_setting(
    base: Base, tmp_path: Path
) -> None:
    inside = base.path / "secrets"
    inside.mkdir(mode=0o700)
    base.config(secrets_dir=str(inside))
    line = error_line(cli("start", base=base))
    assert "secrets_dir must be an absolute path of a folder outside the base folder" in line, line

    open_folder = _secrets_dir(tmp_path)
    open_folder.chmod(0o755)
    base.config(secrets_dir=str(open_folder))
    line = error_line(cli("start", base=base))
    assert f"secrets_dir must be a folder only its owner can read (chmod 700), got {open_folder} with mode 0755" in line

    base.config(secrets_dir=str(tmp_path / "nowhere"))
    line = error_line(cli("start", base=base))
    assert "secrets_dir" in line and "No such file or directory" in line, line
    assert "Manager: not running" in cli("status", base=base).stdout


def test_a_secret_file_others_can_read_is_refused(base: Base, tmp_path: Path) -> None:
    folder = _secrets_dir(tmp_path, LOOSE=VALUE)
    (folder / "LOOSE").chmod(0o644)
    base.config(secrets_dir=str(folder), secret_grants={"*": ["LOOSE"]})
    base.submit("loose", [{"id": "t", "command": "true", "secrets": ["LOOSE"]}])
    manager = ManagerProcess(base).start()
    try:
        state = base.wait_state("loose")
    finally:
        manager.stop()
    assert state["state"] == "failed"
    assert "is readable by others (mode 0644); chmod 600 it" in base.task("loose", "t")["error"]


def test_a_real_dashboard_shows_no_secret_value_in_its_json_or_streams(base: Base, tmp_path: Path) -> None:
    """Every dashboard surface of a task that printed its secret and had a secret-looking env value:
    the job, its tasks, its log and the log's event stream show `***`; the jobs list and events too."""
    from dashboard.conftest import DashboardProcess

    folder = _secrets_dir(tmp_path, DB_PASSWORD=VALUE)
    base.config(secrets_dir=str(folder), secret_grants={"*": ["DB_PASSWORD"]})
    script = (
        "import os; print('pw=' + os.environ['DB_PASSWORD'], os.environ['API_TOKEN'], flush=True); raise SystemExit(2)"
    )
    task = {"id": "t", "command": PY, "args": ["-c", script], "secrets": ["DB_PASSWORD"], "env": {"API_TOKEN": TOKEN}}
    base.submit("dash", [task])
    manager = ManagerProcess(base).start()
    try:
        assert base.wait_state("dash")["state"] == "failed", manager.log()
    finally:
        manager.stop()
    board = DashboardProcess(base)
    try:
        replies = [board.get(path).text for path in ("/api/jobs", "/api/jobs/dash", "/api/jobs/dash/tasks")]
        replies.append(board.get("/api/jobs/dash/tasks/t/log").text)
        seen = board.events("/api/jobs/dash/tasks/t/log/stream?offset=0", lambda kind, data: kind == "chunk")
        seen += board.events("/api/events?job=dash", lambda kind, data: kind == "hello")
    finally:
        board.stop()
    shown = "".join(replies) + json.dumps(seen)
    assert "pw=*** ***" in shown and "exited with code 2: pw=*** ***" in shown, shown[:2000]
    assert VALUE not in shown and TOKEN not in shown
