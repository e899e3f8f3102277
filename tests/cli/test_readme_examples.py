"""The README's shell examples, run as written in a fresh folder, print what the README says they print.

The code is read from README.md itself (Quick start, Dynamic tasks, the job lock), so an
edit there that breaks an example breaks this test. Folders are made world-readable under
/tmp, so the tests hold when runners run as another user than the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml
from conftest import REPO, Base, ManagerProcess, cli, plain_table

README = (REPO / "README.md").read_text()
BIN = str(Path(sys.executable).parent)


def code_blocks(section: str, language: str) -> list[str]:
    """The fenced `language` blocks under the README heading `section` (up to the next heading)."""
    start = README.index(f"\n{section}\n")
    end = README.find("\n#", start + len(section) + 2)
    body = README[start : end if end != -1 else len(README)]
    return re.findall(rf"```{language}\n(.*?)```", body, re.S)


def shell_lines(block: str) -> list[tuple[str, str]]:
    """`(command, comment)` for each line of a shell block."""
    out = []
    for line in block.splitlines():
        command, _, comment = line.partition("  #")
        if command.strip():
            out.append((command.strip(), comment.strip()))
    return out


@pytest.fixture
def fresh() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ae-readme-"))
    folder.chmod(0o755)
    yield folder
    base = str(folder / ".air-executor")
    for proc in psutil.process_iter(["cmdline"]):  # a manager the example left running, if it failed midway
        if base in " ".join(proc.info["cmdline"] or []):
            proc.kill()
    shutil.rmtree(folder, ignore_errors=True)


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """One line of a README example, through the shell, with the venv's bin first on PATH (as `activate` does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIR_EXECUTOR_")}
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", COLUMNS="200")
    return subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def documented_lines(comment: str) -> list[str]:
    """Output a comment promises: `Job manager started (PID 12345)`, `A... / B` (lines), `..., then: X` (last line)."""
    comment = comment.split("then: ", 1)[-1]
    if not comment[:1].isupper():
        return []  # a description (`a table of jobs`), checked by hand below
    return [part.strip() for part in comment.split(" / ")]


def assert_printed(expected: list[str], stdout: str) -> None:
    lines = stdout.splitlines()
    for want in expected:
        pattern = re.escape(want).replace("12345", r"\d+")
        assert any(re.fullmatch(pattern, line) for line in lines), (want, stdout)


def test_quick_start(fresh: Path) -> None:
    """start, submit --wait, status, logs, results, stop: each prints what the Quick start says."""
    (fresh / "deploy" / "demo").mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "demo" / "job.yaml", fresh / "deploy" / "demo" / "job.yaml")
    outputs = {}
    for command, comment in shell_lines(code_blocks("## Quick start", "bash")[0]):
        if command.startswith(("make install", "source ")):
            continue  # the test runs inside the installed venv already
        result = run(command, fresh)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert_printed(documented_lines(comment), result.stdout)
        outputs[command.split()[1]] = result.stdout
    (row,) = plain_table(outputs["status"], "Job Name")
    assert (row["Job Name"], row["State"], row["Tasks"]) == ("demo", "completed", "3/3")
    assert "Hello from Air-Executor!" in outputs["logs"] and "--- complete.log ---" in outputs["logs"]
    assert "Final State: completed" in outputs["results"] and "✅ process: completed" in outputs["results"]
    assert (fresh / ".air-executor" / "manager.pid").read_text() == ""  # stopped: emptied, never deleted


def test_the_quick_start_job_file(base: Base, tmp_path: Path) -> None:
    """The Quick start's job file is a valid job: submitted as written, its options are kept."""
    (block,) = code_blocks("## Quick start", "yaml")
    job = tmp_path / "job.yaml"
    job.write_text(block)
    assert cli("submit", str(job), base=base).returncode == 0
    assert base.state("demo")["max_parallel"] == 1
    process = base.task("demo", "process")
    assert (process["timeout"], process["retries"]) == (120, 2)
    assert yaml.safe_load(block)["tasks"][0] == yaml.safe_load((REPO / "deploy/demo/job.yaml").read_text())["tasks"][0]


def test_dynamic_tasks_loop(base: Base, manager: ManagerProcess, fresh: Path) -> None:
    """The dynamic-tasks loop, as a task submitted from the folder of the files: one load task per file runs there."""
    (loop,) = code_blocks("## Dynamic tasks", "bash")
    for name, text in (("a.csv", "1\n"), ("b.csv", "2\n"), ("load.py", "import sys\nprint('loaded', sys.argv[1])\n")):
        (fresh / name).write_text(text)
        (fresh / name).chmod(0o644)
    job = yaml.safe_dump({"name": "files", "tasks": [{"id": "discover", "command": "sh", "args": ["-c", loop]}]})
    result = cli("submit", "-", "--wait", base=base, input=job, cwd=fresh)
    assert result.returncode == 0, (result.stdout, result.stderr, manager.log())
    assert base.log("files", "discover") == "load-a\nload-b\n"  # add-task prints each new task's id
    for name in ("a", "b"):
        task = base.task("files", f"load-{name}")
        assert (task["parent"], task["depth"], task["dedup_key"]) == ("discover", 1, f"load-{name}.csv")
        assert base.log("files", f"load-{name}") == f"loaded {name}.csv\n"


def test_the_job_lock_snippet(base: Base) -> None:
    """The lock snippet, run as written, changes tasks.json atomically under the lock; the manager runs the result."""
    (snippet,) = code_blocks("### The job lock", "python")
    namespace: dict[str, object] = {}
    exec(snippet, namespace)
    base.submit("locked", [{"id": "first", "command": "echo", "args": ["one"]}])
    added = {
        "id": "second",
        "job_name": "locked",
        "command": "echo",
        "args": ["two"],
        "dependencies": ["first"],
        "status": "pending",
    }
    namespace["update_tasks"](str(base.job_dir("locked")), lambda tasks: tasks.append(added))  # type: ignore[operator]
    assert [t["id"] for t in base.tasks("locked")] == ["first", "second"]
    assert sorted(p.name for p in base.job_dir("locked").iterdir()) == [".lock", "logs", "state.json", "tasks.json"]
    manager = ManagerProcess(base).start()
    try:
        assert base.wait_state("locked")["state"] == "completed", manager.log()
    finally:
        manager.stop()
    assert base.log("locked", "second") == "two\n"
