"""`submit FILE` creates a job from YAML or JSON; with --wait it exits 0 on completion and 1 on failure."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Base, ManagerProcess, cli, error_line

YAML_JOB = """\
name: from-yaml
max_parallel: 2
tasks:
  - id: fetch
    command: echo
    args: [fetched, "42"]
  - id: use
    command: echo
    args: [used]
    dependencies: [fetch]
"""


def test_submit_yaml_and_wait_for_completion(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A YAML job file becomes a job with its tasks and options; --wait exits 0 when it completes."""
    job_file = tmp_path / "job.yaml"
    job_file.write_text(YAML_JOB)
    result = cli("submit", str(job_file), "--wait", base=base)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Submitted job from-yaml (2 tasks)\n")
    assert base.state("from-yaml")["state"] == "completed" and base.state("from-yaml")["max_parallel"] == 2
    fetch, use = base.tasks("from-yaml")
    assert (fetch["args"], use["dependencies"]) == (["fetched", "42"], ["fetch"])
    assert base.log("from-yaml", "fetch") == "fetched 42\n"


def test_submit_json_with_wait_exits_1_when_the_job_fails(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A JSON job file whose task fails: --wait exits 1 and the job is failed."""
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps({"name": "from-json", "tasks": [{"command": "sh", "args": ["-c", "exit 3"]}]}))
    result = cli("submit", str(job_file), "--wait", base=base)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout.startswith("Submitted job from-json (1 task)\n")
    assert base.state("from-json")["state"] == "failed"
    assert base.task("from-json", "task-1")["exit_code"] == 3


def test_submit_without_wait_and_name_override(base: Base, tmp_path: Path) -> None:
    """Without --wait submit returns at once leaving a waiting job; --name overrides the file's name."""
    job_file = tmp_path / "job.yaml"
    job_file.write_text(YAML_JOB)
    result = cli("submit", str(job_file), "--name", "renamed", base=base)
    assert (result.returncode, result.stdout) == (0, "Submitted job renamed (2 tasks)\n")
    assert base.state("renamed")["state"] == "waiting"
    assert {t["job_name"] for t in base.tasks("renamed")} == {"renamed"}
    assert not base.job_dir("from-yaml").exists()


def test_submit_refuses_an_existing_job(base: Base, tmp_path: Path) -> None:
    """Submitting a name that already exists is refused in one line and leaves the first job alone."""
    job_file = tmp_path / "job.yaml"
    job_file.write_text(YAML_JOB)
    assert cli("submit", str(job_file), base=base).returncode == 0
    before = base.job_dir("from-yaml").joinpath("tasks.json").read_text()
    assert "job 'from-yaml' already exists" in error_line(cli("submit", str(job_file), base=base))
    assert base.job_dir("from-yaml").joinpath("tasks.json").read_text() == before


def test_submit_dash_reads_standard_input(base: Base) -> None:
    """`submit -` reads the job (YAML or JSON) from standard input; bad input there is one line naming it."""
    result = cli("submit", "-", base=base, input=YAML_JOB)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Submitted job from-yaml (2 tasks)\n", "")
    assert [t["id"] for t in base.tasks("from-yaml")] == ["fetch", "use"]
    as_json = json.dumps({"name": "from-stdin", "tasks": [{"command": "echo"}]})
    assert cli("submit", "-", base=base, input=as_json).returncode == 0
    assert base.state("from-stdin")["state"] == "waiting"
    line = error_line(cli("submit", "-", base=base, input="name: [unclosed\n"))
    assert line.startswith("error: standard input is not valid YAML"), line
