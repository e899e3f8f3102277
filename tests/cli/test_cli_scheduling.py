"""Scheduling from the CLI and the client (README "Scheduling"): submit --at / --in / --priority,
refusals in one line, and the pools `status` shows while a manager runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from air_executor.client import Client
from air_executor.core.clock import now_iso
from air_executor.errors import InvalidJob
from conftest import Base, ManagerProcess, cli, error_line, gated_task, parse_time, wait_for

JOB = "tasks:\n  - id: t\n    command: echo\n    args: [hi]\n"


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(JOB)
    return path


def test_submit_in_and_priority_write_the_job_fields(base: Base, job_file: Path) -> None:
    before = time.time()
    result = cli("submit", str(job_file), "--name", "later", "--in", "10m", "--priority", "7", base=base)
    assert result.returncode == 0, result.stderr
    state = base.state("later")
    assert state["priority"] == 7
    assert before + 600 <= parse_time(state["not_before"]) <= time.time() + 600
    assert state["not_before"].endswith("Z")
    shown = cli("status", "--job", "later", base=base).stdout
    assert f"later: starts no earlier than {state['not_before'][:19].replace('T', ' ')}" in shown


def test_submit_at_takes_any_offset_and_writes_utc(base: Base, job_file: Path) -> None:
    result = cli("submit", str(job_file), "--name", "new-year", "--at", "2031-01-01T10:00:00+02:00", base=base)
    assert result.returncode == 0, result.stderr
    assert base.state("new-year")["not_before"] == "2031-01-01T08:00:00.000000Z"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--at", "2020-01-01T00:00:00Z"], "error: Invalid value for --at: 2020-01-01T00:00:00Z is in the past"),
        (["--at", "soon"], "error: Invalid value for --at: must be an ISO-8601 time"),
        (["--in", "forever"], "error: Invalid value for --in: must be a duration such as '90s'"),
        (["--in", "5m", "--at", "2031-01-01T00:00:00Z"], "error: give --at or --in, not both"),
        (["--priority", "5000"], "error: Invalid value for '--priority': 5000 is not in the range -1000<=x<=1000"),
    ],
)
def test_bad_schedules_are_refused_in_one_line_and_write_nothing(
    base: Base, job_file: Path, options: list[str], message: str
) -> None:
    result = cli("submit", str(job_file), "--name", "bad", *options, base=base)
    assert error_line(result, 2).startswith(message)
    assert not base.job_dir("bad").exists()


def test_job_files_and_the_client_refuse_past_times_and_bad_pools(base: Base, tmp_path: Path) -> None:
    past = now_iso(time.time() - 60)
    spec = tmp_path / "past.yaml"
    spec.write_text(f"name: old\nnot_before: '{past}'\n{JOB}")
    line = error_line(cli("submit", str(spec), base=base))
    assert line == f"error: job 'old': not_before {past} is in the past; give a time to come (UTC) or leave it out"
    client = Client(base.path)
    with pytest.raises(InvalidJob, match=r"task 't': not_before .* is in the past"):
        client.create_job("old-task", [{"id": "t", "command": "true", "not_before": past}])
    with pytest.raises(InvalidJob, match=r"pool: must be a pool name"):
        client.create_job("bad-pool", [{"id": "t", "command": "true", "pool": "a b"}])
    with pytest.raises(InvalidJob, match=r"priority: must be at least -1000, got -1001"):
        client.create_job("low", [{"id": "t", "command": "true"}], priority=-1001)
    assert not any(base.job_dir(n).exists() for n in ("old", "old-task", "bad-pool", "low"))


def test_status_shows_pool_use_while_the_manager_runs(base: Base, tmp_path: Path) -> None:
    base.config(pools={"gpu": 1, "staging-db": 2})
    manager = ManagerProcess(base).start()
    gate = tmp_path / "gate"
    try:
        Client(base.path).create_job("train", [gated_task("t", gate, pool="gpu")])
        wait_for(lambda: base.task("train", "t")["status"] == "running", what="the gpu task to run")
        out = wait_for(
            lambda: (s := cli("status", base=base).stdout) and "gpu 1/1" in s and s,
            what="status to show the gpu pool in use",
        )
        assert "Pools in use: gpu 1/1, staging-db 0/2" in out
        gate.touch()
        assert base.wait_state("train")["state"] == "completed"
        wait_for(lambda: "gpu 0/1" in cli("status", base=base).stdout, what="the pool to be free again")
    finally:
        manager.stop()
    assert "Pools in use" not in cli("status", base=base).stdout  # no manager: nothing is held
