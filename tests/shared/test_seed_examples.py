"""The seeds' Python examples, run unchanged against a real manager, make jobs that complete.

The example code is copied verbatim from seeds/README.md and seeds/python-usage.md into
tests/data/seed_examples/. Their commands (`curl`, `python process.py`) are the user's
business: a fake `curl` (there is no network here) and a `python` that runs this venv's
interpreter come first on the manager's PATH, and the manager runs in a scratch working folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import DATA, Base, ManagerProcess, parse_time
from taskkit import writable_dir

EXAMPLES = DATA / "seed_examples"
SIMPLE_JOB = (EXAMPLES / "readme_simple_job.py.txt").read_text()
DYNAMIC_TASKS = (EXAMPLES / "readme_dynamic_tasks.py.txt").read_text()
BASIC_CLIENT = (EXAMPLES / "usage_basic_client.py.txt").read_text()
MONITORING = (EXAMPLES / "usage_monitoring.py.txt").read_text()

FAKE_CURL = """#!/bin/sh
# Stands in for curl: `curl -o FILE URL` writes a small JSON document to FILE.
[ "$1" = "-o" ] || exit 2
printf '{"source": "%s", "items": [1, 2, 3]}\\n' "$3" > "$2"
"""
PROCESS_PY = """import json, sys
data = json.load(open(sys.argv[1]))
print(f"processed {len(data['items'])} items from {data['source']}")
"""
PROCESS_FILE_PY = "import sys\nprint('processing', sys.argv[1])\n"


def _workdir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working folder with the user's scripts, and a PATH whose first entry holds `curl` and `python`."""
    work, bin_dir = writable_dir(tmp_path / "work"), tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    (work / "process.py").write_text(PROCESS_PY)
    (work / "process_file.py").write_text(PROCESS_FILE_PY)
    return work, {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result


def test_readme_simple_job_example_runs_in_order(
    base: Base, manager_factory: Callable[[], ManagerProcess], tmp_path: Path
) -> None:
    """README "Simple Job with Sequential Tasks", unchanged: fetch-data then process-data, job completed."""
    work, path = _workdir(tmp_path)
    manager = manager_factory().start(cwd=work, **path)
    _python(SIMPLE_JOB, work, AIR_EXECUTOR_BASE_PATH=str(base.path))
    assert base.wait_state("data-processing")["state"] == "completed", manager.log()
    fetch, process = base.tasks("data-processing")
    assert (fetch["id"], process["id"]) == ("fetch-data", "process-data")
    assert process["dependencies"] == ["fetch-data"]
    assert parse_time(fetch["completed_at"]) <= parse_time(process["started_at"])
    assert (work / "data.json").is_file()
    assert base.log("data-processing", "process-data") == "processed 3 items from https://api.example.com/data\n"


def test_readme_dynamic_task_example_queues_subtasks_that_run(
    base: Base, manager_factory: Callable[[], ManagerProcess], tmp_path: Path
) -> None:
    """README "Dynamic Task Generation", unchanged, as a task of my-job: its process-N subtasks run."""
    work, path = _workdir(tmp_path)
    (work / "discover.py").write_text(DYNAMIC_TASKS)
    manager = manager_factory().start(cwd=work, **path)
    # Submitted from `work`, as `air-executor submit` run there records it: discover.py runs there.
    discover = {"id": "discover", "command": "python", "args": ["discover.py"], "submit_dir": str(work)}
    base.submit("my-job", [discover])
    assert base.wait_state("my-job")["state"] == "completed", manager.log()
    tasks = base.tasks("my-job")
    assert [t["id"] for t in tasks] == ["discover", "process-0", "process-1", "process-2", "process-3"]
    # The example's list holds a literal `...`: the Task model passes it on as the text "Ellipsis".
    assert [t["args"][1] for t in tasks[1:]] == ["file1.txt", "file2.txt", "Ellipsis", "file10.txt"]
    for i, task in enumerate(tasks[1:]):
        assert (task["status"], task["parent"], task["depth"]) == ("completed", "discover", 1)
        assert base.log("my-job", f"process-{i}") == f"processing {task['args'][1]}\n"


def test_python_usage_client_jobs_run_and_its_status_helper_reads_them(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """python-usage.md's AirExecutorClient and get_job_status, unchanged: its job completes and reads back."""
    work = writable_dir(tmp_path / "work")
    (work / ".air-executor").symlink_to(base.path)  # the client's default base, relative to its cwd
    _python(BASIC_CLIENT, work)
    assert base.wait_state("my-job")["state"] == "completed", manager.log()
    assert [(t["id"], t["status"]) for t in base.tasks("my-job")] == [("task-1", "completed"), ("task-2", "completed")]
    assert base.log("my-job", "task-1") == "Hello\n"
    # The guide's monitoring helper relies on the imports of its first block.
    out = _python("from pathlib import Path\nimport json\n" + MONITORING, work).stdout
    assert out == "Job my-job: 2/2 completed\n"


def test_many_jobs_from_the_non_atomic_seed_client_all_complete(base: Base, manager: ManagerProcess) -> None:
    """Twelve jobs written back to back with the seed client's plain json.dump all complete, none lost."""
    client_class = BASIC_CLIENT.split("# Usage")[0]
    code = client_class + (
        "import sys\n"
        "client = AirExecutorClient(sys.argv[1])\n"
        "for n in range(12):\n"
        "    client.create_job(f'naive-{n}', [\n"
        "        {'id': 'first', 'command': 'echo', 'args': [str(n)]},\n"
        "        {'id': 'second', 'command': 'echo', 'args': ['done'], 'dependencies': ['first']},\n"
        "    ])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(base.path)], check=True, timeout=60)
    for n in range(12):
        assert base.wait_state(f"naive-{n}")["state"] == "completed", manager.log()
        assert base.log(f"naive-{n}", "first") == f"{n}\n"
