"""Where a task runs: its `cwd`; else the folder it was submitted from (`submit_dir`); else its job's folder.

Folders the tasks must enter are made world-readable under /tmp, so the tests hold when
runners run as another user than the test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Base, ManagerProcess, cli, naive_write

LOAD_PY = "import sys\nprint('loaded', sys.argv[1])\n"
# The README's dynamic-tasks loop, as a task's script.
LOOP = 'for f in *.csv; do air-executor add-task --id "load-${f%.csv}" --dedup-key "load-$f" python load.py "$f"; done'


@pytest.fixture
def project() -> Iterator[Path]:
    """A user's project folder outside the base folder, enterable by any runner user."""
    folder = Path(tempfile.mkdtemp(prefix="ae-project-"))
    folder.chmod(0o755)
    for name, text in (("a.csv", "1\n"), ("b.csv", "2\n"), ("load.py", LOAD_PY)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_readme_dynamic_tasks_loop_runs_where_it_was_submitted(
    base: Base, manager: ManagerProcess, project: Path
) -> None:
    """Submitted from the project folder (the manager runs elsewhere), the loop and its `python load.py` work."""
    job = f"name: csv\ntasks:\n  - id: discover\n    command: sh\n    args: ['-c', '{LOOP}']\n"
    result = cli("submit", "-", "--wait", base=base, input=job, cwd=project)
    assert result.returncode == 0, (result.stdout, result.stderr, manager.log())
    tasks = {t["id"]: t for t in base.tasks("csv")}
    assert sorted(tasks) == ["discover", "load-a", "load-b"]
    assert {t["submit_dir"] for t in tasks.values()} == {str(project)}  # add-task records the parent's folder
    assert base.log("csv", "load-a") == "loaded a.csv\n" and base.log("csv", "load-b") == "loaded b.csv\n"


def test_a_submit_directory_it_cannot_enter_falls_back_to_the_job_folder(base: Base, project: Path) -> None:
    """The recorded folder is gone when the task runs: it runs in its job's folder, and its log says why."""
    gone = project / "gone"
    gone.mkdir()
    assert (
        cli("submit", "-", base=base, input="name: moved\ntasks: [{id: where, command: pwd}]\n", cwd=gone).returncode
        == 0
    )
    gone.rmdir()
    manager = ManagerProcess(base).start()
    try:
        assert base.wait_state("moved")["state"] == "completed", manager.log()
    finally:
        manager.stop()
    folder = base.job_dir("moved")
    assert base.log("moved", "where").splitlines() == [
        f"[air-executor] running in {folder}: cannot enter the submit directory {gone} (No such file or directory)",
        str(folder),
    ]


def test_cwd_wins_and_an_unrecorded_folder_means_the_job_folder(
    base: Base, manager: ManagerProcess, project: Path
) -> None:
    """A task's `cwd` beats its submit_dir; a task written without either runs in its job's folder, silently."""
    other = Path(tempfile.mkdtemp(prefix="ae-cwd-"))
    try:
        other.chmod(0o755)
        job = f"name: chosen\ntasks: [{{id: here, command: pwd, cwd: '{other}'}}]\n"
        assert cli("submit", "-", base=base, input=job, cwd=project).returncode == 0
        assert base.wait_state("chosen")["state"] == "completed", manager.log()
        assert base.log("chosen", "here") == f"{other}\n"
    finally:
        shutil.rmtree(other, ignore_errors=True)
    naive = [{"id": "t", "job_name": "naive", "command": "pwd", "status": "pending"}]
    naive_write(base.job_dir("naive") / "tasks.json", naive)
    naive_write(base.job_dir("naive") / "state.json", {"id": "naive", "name": "naive", "state": "waiting"})
    assert base.wait_state("naive")["state"] == "completed", manager.log()
    assert base.log("naive", "t") == f"{base.job_dir('naive')}\n"


CLIENT_CODE = """
import sys
from air_executor.client import Client
from air_executor.core.task import Task, TaskQueue
client = Client(sys.argv[1])
client.create_job("py", [{"id": "created", "command": "pwd"}])
client.add_task("py", "pwd", id="added")
queue = TaskQueue("py", client.store.jobs_path / "py" / "tasks.json")
queue.add(Task(id="queued", job_name="py", command="pwd"))
"""


def test_the_python_client_records_where_it_was_called_from(base: Base, project: Path) -> None:
    """Client.create_job, Client.add_task and the seeds' TaskQueue.add record the caller's folder."""
    subprocess.run([sys.executable, "-c", CLIENT_CODE, str(base.path)], cwd=project, check=True, timeout=60)
    assert [(t["id"], t["submit_dir"]) for t in base.tasks("py")] == [
        ("created", str(project)),
        ("added", str(project)),
        ("queued", str(project)),
    ]
    added = cli("add-task", "--job", "py", "--id", "cli", "pwd", base=base, cwd=project)
    assert added.returncode == 0, added.stderr
    assert base.task("py", "cli")["submit_dir"] == str(project)
    bad = (
        "import sys\nfrom air_executor.client import Client\nClient(sys.argv[1]).add_task('py', 'pwd', submit_dir='x')"
    )
    refused = subprocess.run([sys.executable, "-c", bad, str(base.path)], capture_output=True, text=True, timeout=60)
    assert "submit_dir: must be an absolute path, got 'x'" in refused.stderr


def test_a_relative_base_path_in_a_config_file_is_beside_that_file(tmp_path: Path) -> None:
    """`--config conf/ae.yaml` with `base_path: data` means conf/data, from whatever folder one runs in."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "ae.yaml").write_text("base_path: data\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    job = "name: here\ntasks: [{command: echo}]\n"
    # An empty $AIR_EXECUTOR_BASE_PATH is unset: the file's base_path decides.
    result = cli(
        "--config", str(conf / "ae.yaml"), "submit", "-", input=job, cwd=elsewhere, env={"AIR_EXECUTOR_BASE_PATH": ""}
    )
    assert result.returncode == 0, result.stderr
    assert (conf / "data" / "jobs" / "here" / "state.json").is_file()
    assert not (elsewhere / "data").exists()
