"""Bad input gets one clear line and a non-zero exit (or a failed job saying why); a healthy job is unharmed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Base, ManagerProcess, cli, error_line, gated_task, naive_write, wait_for

BAD_JOB_FILES = [
    ("slash", {"name": "a/b", "tasks": [{"command": "echo"}]}, "invalid job name 'a/b'"),
    ("dotdot", {"name": "..", "tasks": [{"command": "echo"}]}, "invalid job name '..'"),
    ("300-chars", {"name": "n" * 300, "tasks": [{"command": "echo"}]}, "invalid job name 'nnn"),
    ("tasks-not-a-list", {"name": "t-str", "tasks": "echo hi"}, "job 't-str': tasks must be a list, got str"),
    ("tasks-a-mapping", {"name": "t-map", "tasks": {"a": "echo"}}, "tasks must be a list, got dict"),
    ("no-command", {"name": "t-nocmd", "tasks": [{"id": "a", "args": ["x"]}]}, "task #1 (a) has no command"),
    ("duplicate-ids", {"name": "t-dup", "tasks": [{"id": "a", "command": "echo"}] * 2}, "duplicate task id 'a'"),
    ("unknown-dep", {"name": "t-dep", "tasks": [{"command": "echo", "dependencies": ["zz"]}]}, "unknown task 'zz'"),
    ("cycle", {"name": "t-cyc", "tasks": [{"id": "a", "command": "echo", "dependencies": ["a"]}]}, "cycle a -> a"),
    ("not-a-mapping", ["echo"], "a job file must hold a mapping"),
    (
        "bad-placement",
        {"name": "t-place", "tasks": [{"id": "a", "command": "echo", "container_options": {"placement": ["gpu"]}}]},
        "container_options.placement.0: must be a Swarm constraint such as 'node.labels.gpu==true', got 'gpu'",
    ),
]

JSON_TOO = {"slash", "tasks-not-a-list", "no-command", "duplicate-ids"}


@pytest.fixture
def healthy(base: Base, manager: ManagerProcess, tmp_path: Path) -> Iterator[None]:
    """A job that is working while the bad input arrives; it must still complete afterwards."""
    gate = tmp_path / "gate"
    base.submit("healthy", [gated_task("hold", gate), {"id": "then", "command": "echo", "dependencies": ["hold"]}])
    wait_for(lambda: base.log("healthy", "hold") == "before\n", what="the healthy job to be working")
    yield
    gate.touch()
    assert base.wait_state("healthy")["state"] == "completed", manager.log()
    assert [t["status"] for t in base.tasks("healthy")] == ["completed", "completed"]


def _file(tmp_path: Path, spec: Any, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"job{suffix}"
    path.write_text(json.dumps(spec) if suffix == ".json" else yaml.safe_dump(spec))
    return path


@pytest.mark.usefixtures("healthy")
def test_bad_job_files_are_refused_in_one_line(base: Base, tmp_path: Path) -> None:
    """Each bad job file (YAML and JSON) is refused: exit 1, one line naming the problem, no job made."""
    for label, spec, expected in BAD_JOB_FILES:
        for suffix in (".yaml", ".json") if label in JSON_TOO else (".yaml",):
            line = error_line(cli("submit", str(_file(tmp_path, spec, suffix)), base=base))
            assert expected in line, (label, suffix, line)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ntasks: [unclosed\n")
    assert "is not valid YAML" in error_line(cli("submit", str(broken), base=base))
    assert "cannot read job file" in error_line(cli("submit", str(tmp_path / "missing.yaml"), base=base))
    assert base.store.list_job_names() == ["healthy"]


@pytest.mark.usefixtures("healthy")
def test_bad_config_and_unknown_options_are_refused_in_one_line(base: Base, tmp_path: Path) -> None:
    """A config value out of range exits 1; an unknown option or missing argument exits 2; one line each."""
    good = _file(tmp_path, {"name": "good", "tasks": [{"command": "echo"}]})
    line = error_line(cli("submit", str(good), base=base, env={"AIR_EXECUTOR_TASK_TIMEOUT": "7201"}))
    assert "task_timeout must be a whole number of seconds between 60 and 7200" in line
    assert "No such option" in error_line(cli("submit", "--frobnicate", str(good), base=base), code=2)
    assert "No such option" in error_line(cli("status", "--verbose-please", base=base), code=2)
    assert "Missing option '--job'" in error_line(cli("logs", base=base), code=2)
    assert "No such command 'launch'" in error_line(cli("launch", base=base), code=2)
    assert "Invalid value for '--tail'" in error_line(cli("logs", "--job", "healthy", "--tail", "-1", base=base), 2)
    assert base.store.list_job_names() == ["healthy"]


@pytest.mark.usefixtures("healthy")
def test_bad_files_written_directly_fail_their_job_with_the_reason(base: Base) -> None:
    """Jobs written straight to disk with bad tasks fail with an error naming the problem; others run on."""
    written: dict[str, tuple[list[dict[str, Any]], str]] = {
        "direct-nocmd": ([{"id": "a", "args": []}], "command: is required"),
        "direct-dup": ([{"id": "a", "command": "echo"}, {"id": "a", "command": "echo"}], "duplicate task id 'a'"),
        "direct-dep": ([{"id": "a", "command": "echo", "dependencies": ["zz"]}], "depends on unknown task 'zz'"),
        "direct-nofile": ([{"id": "a", "command": "no-such-command-here"}], "command not found: no-such-command-here"),
    }
    for name, (tasks, _) in written.items():
        full = [{"job_name": name, "status": "pending", **t} for t in tasks]
        naive_write(base.job_dir(name) / "tasks.json", full)
        naive_write(base.job_dir(name) / "state.json", {"id": name, "name": name, "state": "waiting"})
    for name, (_, reason) in written.items():
        state = base.wait_state(name)
        assert state["state"] == "failed" and reason in state["error"], (name, state)
    assert base.state("healthy")["state"] == "working"


@pytest.mark.usefixtures("healthy")
def test_a_tasks_file_that_is_not_a_list_fails_its_job_with_the_reason(base: Base) -> None:
    """A tasks.json holding an object is not run: the job fails saying why, status shows it in one line;
    the healthy job runs on."""
    naive_write(base.job_dir("odd") / "tasks.json", {"id": "a", "command": "echo"})
    naive_write(base.job_dir("odd") / "state.json", {"id": "odd", "name": "odd", "state": "waiting"})
    state = base.wait_state("odd")
    assert state["state"] == "failed" and "must hold a JSON list of task objects" in state["error"]
    result = cli("status", "--job", "odd", base=base)
    assert result.returncode == 0, result.stderr
    problem = [line for line in result.stdout.splitlines() if line.startswith("odd: ")]
    assert len(problem) == 1 and "must hold a JSON list of task objects" in problem[0], result.stdout
