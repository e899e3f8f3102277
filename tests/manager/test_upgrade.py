"""A volume written by the previous release (tests/data/upgrade/0.1, captured by its own manager and
runners before the journal came) runs to the end under this one, mid-flight jobs included."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import BIN, REPO, Base, ManagerProcess, cli

FIXTURE = REPO / "tests" / "data" / "upgrade" / "0.1"

EXPECTED = {
    "completed-chain": "completed",
    "failed-with-skip": "failed",
    "dynamic": "completed",
    "invalid": "failed",
    "cancelled": "cancelled",
    "retry-pending": "completed",  # its first attempt failed under 0.1; the retry runs here
    "mid-flight": "completed",  # its manager and runner were killed under 0.1
    "waiting-client": "completed",  # written while no manager ran
    "waiting-naive": "completed",  # the same, by the seeds' plain-json client
}


@pytest.fixture
def old_volume(base: Base) -> Base:
    """The 0.1 fixture copied over a fresh base folder (its config: poll_interval 1, text logs)."""
    shutil.rmtree(base.path)
    shutil.copytree(FIXTURE, base.path, symlinks=True)
    for folder, dirs, _ in os.walk(base.path):  # the fixture is checked out as whoever cloned the repo
        os.chmod(folder, 0o755)
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
    return base


@pytest.mark.slow
def test_the_previous_release_volume_runs_to_the_end(old_volume: Base) -> None:
    base = old_volume
    assert sorted(p.name for p in (base.path / "jobs").iterdir()) == sorted(EXPECTED)
    # Its tasks call `python` and `sh` from PATH, as 0.1's users wrote them.
    manager = ManagerProcess(base).start(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        for name, state in EXPECTED.items():
            assert base.wait_state(name, timeout=90)["state"] == state, (name, manager.log())
        held = base.task("mid-flight", "held")
        assert held["attempts"] == 2 and held["history"][0]["result"] == "runner_lost", held
        assert held["history"][-1]["result"] == "success"
        assert base.task("mid-flight", "last")["status"] == "completed"
        assert base.task("retry-pending", "second-time")["attempts"] == 2
        assert {t["id"] for t in base.tasks("dynamic")} == {"spawner", "sub-1", "sub-2", "sub-3"}
        assert base.log("waiting-naive", "task-1").strip() == ""  # `echo` with no args
        assert base.log("waiting-client", "hello").strip() == "waited"
        assert base.task("failed-with-skip", "after")["status"] == "skipped"
        # Every job that ran here now carries this release's format version (finished ones are not rewritten).
        for name in ("retry-pending", "mid-flight", "waiting-client", "waiting-naive"):
            assert base.state(name)["format_version"] == 2, name
        assert "format_version" not in base.state("completed-chain")
        assert (base.path / "format").read_text() == "2\n"
    finally:
        manager.stop()
    # The CLI reads every one of them.
    status = cli("status", base=base)
    assert status.returncode == 0, status.stderr
    for name in EXPECTED:
        assert name in status.stdout
    results = cli("results", "--job", "mid-flight", base=base)
    assert results.returncode == 0 and "Final State: completed" in results.stdout, results.stdout + results.stderr


def test_a_job_from_a_newer_release_is_refused_untouched(base: Base, manager: ManagerProcess) -> None:
    """A downgrade: files of a newer format are not run, not rewritten, and say why."""
    base.submit("fine", [{"id": "t", "command": "true"}])
    job = base.job_dir("newer")
    (job / "logs").mkdir(parents=True)
    (job / "state.json").write_text(
        '{"name": "newer", "state": "waiting", "format_version": 99, "created_at": "2030-01-01T00:00:00Z"}'
    )
    (job / "tasks.json").write_text('[{"id": "t", "command": "true", "status": "pending"}]')
    before = {p.name: p.read_bytes() for p in job.iterdir() if p.is_file()}
    assert base.wait_state("fine")["state"] == "completed"
    assert base.state("fine")["format_version"] == 2  # what this release writes
    status = cli("status", "--job", "newer", base=base)
    assert "format 99" in status.stdout + status.stderr and "newer release" in status.stdout + status.stderr
    assert {p.name: p.read_bytes() for p in job.iterdir() if p.is_file()} == before
    assert not (job / "runs").exists()
    assert "format 99" in manager.log()


def test_a_base_folder_of_a_newer_release_stops_the_manager(base: Base) -> None:
    (base.path / "format").write_text("99\n")
    manager = ManagerProcess(base)
    with pytest.raises(AssertionError):
        manager.start()
    assert "format 99" in manager.log() and "newer release" in manager.log()
    assert not (base.path / "jobs").exists() or not any((base.path / "jobs").iterdir())
