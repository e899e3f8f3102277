"""The second round of hostile input (issue 23), against a real manager and real runners: a hard
link where a log goes, a 100 MB line without a newline, timestamps far in the future and the past,
a task writing into another owner's job folder, names that collide once normalised. Each gets a
clear error or is harmless, and the other jobs run."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from air_executor.storage.names import sanitise
from conftest import Base, ManagerProcess, cli, error_line
from taskkit import PY, naive_job


def _others_run(base: Base, manager: ManagerProcess, name: str = "bystander") -> None:
    base.submit(name, [{"id": "a", "command": "echo", "args": ["ok"]}])
    assert base.wait_state(name)["state"] == "completed", manager.log()
    assert base.log(name, "a") == "ok\n"
    assert manager.proc is not None and manager.proc.poll() is None


def test_a_log_hard_linked_to_a_file_outside_is_never_written(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    outside = tmp_path / "outside" / "precious.txt"
    outside.parent.mkdir()
    outside.write_text("original\n")
    job_dir = naive_job(base.path / "jobs", "hardlog", [{"id": "t", "command": "echo", "args": ["pwned"]}])
    (job_dir / "logs").mkdir()
    os.link(outside, job_dir / "logs" / "t.log")
    state = base.wait_state("hardlog")
    assert state["state"] == "failed", state
    task = base.task("hardlog", "t")
    assert task["result"] == "failed_to_start" and "hard link" in task["error"] and "\n" not in task["error"], task
    assert outside.read_text() == "original\n"
    _others_run(base, manager)


def test_a_100_mb_line_without_a_newline_is_capped_and_its_error_stays_one_short_line(base: Base) -> None:
    base.config(max_log_mb=1)
    line = "import sys\nfor _ in range(100): sys.stdout.write('x' * 2**20)\nsys.stdout.flush()\nsys.exit(1)"
    base.submit("longline", [{"id": "t", "command": PY, "args": ["-c", line]}])
    manager = ManagerProcess(base).start()
    try:
        state = base.wait_state("longline", timeout=120)
        _others_run(base, manager)
    finally:
        manager.stop()
    assert state["state"] == "failed"
    log = base.job_dir("longline") / "logs" / "t.log"
    assert log.stat().st_size < 2 * 2**20, log.stat().st_size  # the cap, its marker lines, the tail
    error = base.task("longline", "t")["error"]
    assert "exited with code 1" in error and len(error) < 400 and "\n" not in error, error[:500]
    shown = cli("status", "--job", "longline", base=base)
    assert shown.returncode == 0 and len(shown.stdout) < 20_000


def test_timestamps_far_in_the_future_or_past_are_harmless(base: Base, manager: ManagerProcess) -> None:
    """Another host's clock (or a hostile writer) stamps a job at year 9999 or 1970: it still runs."""
    for name, stamp in (("future", "9999-12-31T23:59:59.999999Z"), ("past", "1970-01-01T00:00:00Z")):
        job_dir = naive_job(base.path / "jobs", name, [{"id": "t", "command": "echo", "args": [name]}])
        for file in ("state.json", "tasks.json"):
            text = (job_dir / file).read_text().replace("2025-10-02T07:30:15.123456Z", stamp)
            (job_dir / file).write_text(text)
    for name in ("future", "past"):
        assert base.wait_state(name)["state"] == "completed", (name, base.state(name), manager.log())
        assert base.log(name, "t") == f"{name}\n"
    for args in (["status"], ["status", "--job", "future"], ["results", "--job", "past"]):
        shown = cli(*args, base=base)
        assert shown.returncode == 0 and "Traceback" not in shown.stdout + shown.stderr, (args, shown.stderr)
    _others_run(base, manager)


def test_a_task_cannot_write_into_another_owners_job_folder(base: Base, manager: ManagerProcess) -> None:
    if os.geteuid() != 0:
        return _others_run(base, manager)  # (as one user every folder is the same owner's; CI runs as root)
    victim = naive_job(base.path / "jobs", "victim", [{"id": "v", "command": "echo", "args": ["mine"]}])
    for path in [victim, *victim.rglob("*")]:
        os.chown(path, 10002, 10002)
    attack = (
        f"cd {victim} && (echo '[]' > tasks.json; echo x > state.json; mkdir -p logs; echo x > logs/v.log;"
        " mkdir evil; ln -s / escape) 2>&1; exit 0"
    )
    attacker = naive_job(base.path / "jobs", "attacker", [{"id": "t", "command": "sh", "args": ["-c", attack]}])
    for path in [attacker, *attacker.rglob("*")]:
        os.chown(path, 10001, 10001)
    assert base.wait_state("attacker")["state"] == "completed", manager.log()
    assert base.wait_state("victim")["state"] == "completed", manager.log()
    assert "Permission denied" in base.log("attacker", "t")
    assert base.log("victim", "v") == "mine\n" and base.task("victim", "v")["status"] == "completed"
    assert not {"evil", "escape"} & {p.name for p in victim.iterdir()}
    _others_run(base, manager)


def test_names_that_collide_once_normalised_never_overwrite_each_other(base: Base, tmp_path: Path) -> None:
    """Airflow run ids `etl.daily` and `etl/daily` both become `etl_daily`: the second is refused."""
    assert sanitise("etl.daily") == sanitise("etl/daily") == "etl_daily"
    first = tmp_path / "first.json"
    first.write_text(json.dumps({"name": sanitise("etl.daily"), "tasks": [{"id": "a", "command": "true"}]}))
    second = tmp_path / "second.json"
    second.write_text(json.dumps({"name": sanitise("etl/daily"), "tasks": [{"id": "b", "command": "false"}]}))
    assert cli("submit", str(first), base=base).returncode == 0
    line = error_line(cli("submit", str(second), base=base))
    assert "etl_daily" in line and "exist" in line, line
    assert [t["id"] for t in base.tasks("etl_daily")] == ["a"]
    # Names that differ only in case are two jobs (the rule keeps case; a case-folding volume is refused).
    shutil.copy(first, tmp_path / "upper.json")
    (tmp_path / "upper.json").write_text(first.read_text().replace("etl_daily", "ETL_daily"))
    assert cli("submit", str(tmp_path / "upper.json"), base=base).returncode == 0
    assert [t["id"] for t in base.tasks("etl_daily")] == ["a"] and base.tasks("ETL_daily")[0]["id"] == "a"


FLOOD = 100_000


@pytest.mark.slow
def test_a_job_folder_of_100000_small_files_leaves_the_manager_responsive(base: Base, manager: ManagerProcess) -> None:
    """Junk at the top of a job folder and in its journal (runs/, queue/): the flooded job runs or
    fails saying why; meanwhile `status` answers and another job completes."""
    job_dir = naive_job(base.path / "jobs", "flood", [{"id": "t", "command": "echo", "args": ["flooded"]}])
    started = time.monotonic()
    for folder, count, suffix in (("", FLOOD // 2, ".junk"), ("runs", FLOOD // 4, ".json"), ("queue", FLOOD // 4, "")):
        (job_dir / folder).mkdir(exist_ok=True)
        for i in range(count):
            os.close(os.open(job_dir / folder / f"x{i}{suffix}", os.O_CREAT | os.O_WRONLY, 0o644))
    print(f"{FLOOD} files made in {time.monotonic() - started:.1f} s")
    _others_run(base, manager)
    shown = cli("status", base=base)
    assert shown.returncode == 0 and "flood" in shown.stdout, shown.stderr
    state = base.wait_state("flood", timeout=180)
    print("flooded job:", state["state"], state.get("error"))
    if state["state"] == "completed":
        assert base.log("flood", "t") == "flooded\n"
    else:
        assert state.get("error") and "\n" not in state["error"], state
    _others_run(base, manager, "after")
