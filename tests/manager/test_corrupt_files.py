"""Naive writers: files not there yet or caught half written are 'not ready yet'; bad ones harm no other job."""

from __future__ import annotations

import json

import pytest
from conftest import Base, ManagerProcess, cli, wait_for
from taskkit import naive_job, naive_write


def _not_ready_logged(manager: ManagerProcess, name: str) -> bool:
    return f"job {name} not ready yet" in manager.log()


def test_state_without_tasks_waits_until_tasks_are_written(base: Base, manager: ManagerProcess) -> None:
    """state.json with no tasks.json yet is not a failure: the job runs once tasks.json appears."""
    job_dir = naive_job(base.path / "jobs", "late-tasks", [{"id": "t", "command": "true"}])
    tasks_text = (job_dir / "tasks.json").read_text()
    (job_dir / "tasks.json").unlink()
    (job_dir / "state.json").touch()  # make sure the manager looks at it now
    wait_for(lambda: _not_ready_logged(manager, "late-tasks"), what="the manager to see the job")
    assert base.state("late-tasks")["state"] == "waiting"
    assert not (job_dir / "tasks.json").exists()
    (job_dir / "tasks.json").write_text(tasks_text)
    assert base.wait_state("late-tasks")["state"] == "completed", manager.log()


def test_half_written_tasks_file_is_read_again_and_runs_when_complete(base: Base, manager: ManagerProcess) -> None:
    """tasks.json truncated mid-write is retried on the next poll; once complete, the job runs."""
    job_dir = naive_job(base.path / "jobs", "half", [{"id": "t1", "command": "true"}, {"id": "t2", "command": "true"}])
    full = (job_dir / "tasks.json").read_text()
    (job_dir / "tasks.json").write_text(full[: len(full) // 2])
    wait_for(lambda: _not_ready_logged(manager, "half"), what="the manager to read the half file")
    assert (job_dir / "tasks.json").read_text() == full[: len(full) // 2]  # left as it was
    assert base.state("half")["state"] == "waiting"
    (job_dir / "tasks.json").write_text(full)
    assert base.wait_state("half")["state"] == "completed", manager.log()
    assert [t["status"] for t in base.tasks("half")] == ["completed", "completed"]


# What becomes of a job whose file stays bad: "failed" with the reason in state.json (readers such
# as the seeds' status helper and Airflow's sensor see the verdict), or, when state.json itself is
# not valid JSON and so cannot carry it, "unreadable" in status and the log. The bad file is left
# byte for byte as it was, except a state.json that is not a JSON object, replaced by the verdict.
BAD_FILES = [
    ("tasks.json", '[{"id": "t", "command": "tr', "failed", "is not valid JSON"),  # cut off
    ("state.json", "not json at all", "unreadable", None),
    ("tasks.json", '{"id": "t"}', "failed", "must hold a JSON list of task objects"),  # an object, not a list
    ("state.json", "[1, 2, 3]", "failed", "must hold a JSON object"),  # a list where an object belongs
    ("tasks.json", "[1, 2]", "failed", "must hold a JSON list of task objects"),  # tasks that are not objects
    ("tasks.json", b"\xff\xfe\x00garbage", "failed", "is not valid JSON"),  # not UTF-8
]


@pytest.mark.parametrize(
    ("which", "content", "outcome", "reason"),
    BAD_FILES,
    ids=["truncated-tasks", "garbage-state", "tasks-object", "state-list", "tasks-scalars", "binary"],
)
def test_file_that_stays_bad_fails_its_job_or_is_reported_and_harms_no_one(
    base: Base, which: str, content: str | bytes, outcome: str, reason: str | None
) -> None:
    """A job whose file stays bad is failed with the reason (or reported when state.json cannot say it),
    the bad file's bytes untouched; other jobs run; it is reported once."""
    base.config(unreadable_after=1)
    job_dir = naive_job(base.path / "jobs", "broken", [{"id": "t", "command": "true"}])
    data = content.encode() if isinstance(content, str) else content
    (job_dir / which).write_bytes(data)
    before = {f: (job_dir / f).read_bytes() for f in ("state.json", "tasks.json")}
    base.submit("healthy-before", [{"id": "t", "command": "true"}])
    manager = ManagerProcess(base).start()
    try:
        if outcome == "failed":
            state = base.wait_state("broken")
            assert state["state"] == "failed" and reason in state["error"], state
            assert state["error"].startswith("invalid job: ")
        else:
            wait_for(lambda: "job broken: unreadable for" in manager.log(), what="the manager to report the job")
        base.submit(
            "healthy-after", [{"id": "a", "command": "true"}, {"id": "b", "command": "true", "dependencies": ["a"]}]
        )
        for name in ("healthy-before", "healthy-after"):
            assert base.wait_state(name)["state"] == "completed", manager.log()
        status = cli("status", base=base)
        assert status.returncode == 0, status.stderr
        row = next(line for line in status.stdout.splitlines() if line.startswith("broken "))  # plain: a pipe
        assert outcome in row
        assert manager.proc is not None and manager.proc.poll() is None
    finally:
        manager.stop()
    kept = ("state.json", "tasks.json") if outcome == "unreadable" else ("tasks.json",)
    if which == "tasks.json" or outcome == "unreadable":
        assert {f: (job_dir / f).read_bytes() for f in kept} == {f: before[f] for f in kept}
    assert not list(job_dir.glob(".*.tmp"))
    reports = manager.log().count("job broken: unreadable for") + manager.log().count("job broken: invalid job")
    assert reports == 1, manager.log()  # reported once, not on every poll


def test_half_written_job_that_is_fixed_in_time_runs(base: Base) -> None:
    """A file caught half written is only "not ready yet": fixed within unreadable_after, the job runs,
    and the recovery is logged."""
    base.config(unreadable_after=3600)
    job_dir = naive_job(base.path / "jobs", "mended", [{"id": "t", "command": "true"}])
    good = (job_dir / "tasks.json").read_text()
    (job_dir / "tasks.json").write_text(good[:10])
    manager = ManagerProcess(base).start()
    try:
        wait_for(lambda: _not_ready_logged(manager, "mended"), what="the manager to see the half file")
        (job_dir / "tasks.json").write_text(good)
        assert base.wait_state("mended")["state"] == "completed", manager.log()
    finally:
        manager.stop()


def test_a_job_failed_for_a_bad_file_runs_once_fixed_and_reset(base: Base) -> None:
    """After the verdict, fixing the file and `reset` runs the job."""
    base.config(unreadable_after=1)
    job_dir = naive_job(base.path / "jobs", "mended", [{"id": "t", "command": "true"}])
    good = (job_dir / "tasks.json").read_text()
    (job_dir / "tasks.json").write_text(good[:10])
    manager = ManagerProcess(base).start()
    try:
        assert base.wait_state("mended")["state"] == "failed", manager.log()
        (job_dir / "tasks.json").write_text(good)
        reset = cli("reset", "--job", "mended", base=base)
        assert reset.returncode == 0, reset.stderr
        assert base.wait_state("mended")["state"] == "completed", manager.log()
    finally:
        manager.stop()


def test_invalid_task_fields_fail_that_task_not_the_manager(base: Base, manager: ManagerProcess) -> None:
    """Tasks with wrong field types or bad ids fail with errors naming the field; valid tasks still run."""
    naive_job(
        base.path / "jobs",
        "odd-fields",
        [
            {"id": "no-args-list", "command": "true", "args": "not-a-list"},
            {"id": "bad timeout", "command": "true"},
            {"id": "negative", "command": "true", "timeout": -5},
            {"id": "fine", "command": "true"},
        ],
    )
    naive_write(base.path / "jobs" / "odd-fields" / "x.json", {"ignored": True})
    state = base.wait_state("odd-fields")
    assert state["state"] == "failed", manager.log()
    tasks = {t["id"]: t for t in base.tasks("odd-fields")}
    assert "args" in tasks["no-args-list"]["error"]
    assert "invalid task id" in tasks["bad timeout"]["error"]
    assert "timeout" in tasks["negative"]["error"]
    assert tasks["fine"]["status"] == "completed"
    assert manager.proc is not None and manager.proc.poll() is None
    json.loads((base.path / "jobs" / "odd-fields" / "tasks.json").read_text())


def test_unknown_task_status_fails_that_task_instead_of_hanging(base: Base, manager: ManagerProcess) -> None:
    """A status Air-Executor does not know ('queued', or not even a string) fails that task clearly; the job ends."""
    naive_job(
        base.path / "jobs",
        "odd-status",
        [
            {"id": "queued", "command": "true", "status": "queued"},
            {"id": "dict", "command": "true", "status": {"odd": 1}},
            {"id": "fine", "command": "true"},
        ],
    )
    state = base.wait_state("odd-status", timeout=20)
    assert state["state"] == "failed", manager.log()
    tasks = {t["id"]: t for t in base.tasks("odd-status")}
    assert "unknown status 'queued'" in tasks["queued"]["error"]
    assert "unknown status" in tasks["dict"]["error"]
    assert tasks["fine"]["status"] == "completed"


def test_values_of_the_wrong_type_harm_no_other_job(base: Base, manager: ManagerProcess) -> None:
    """An unhashable id fails its task (and job) naming the id; a non-numeric max_parallel fails its job
    clearly; others go on."""
    jobs = base.path / "jobs"
    naive_job(jobs, "list-id", [{"id": ["x"], "command": "true"}])
    naive_job(jobs, "wordy-limit", [{"id": "t", "command": "true"}], max_parallel="lots")
    base.submit("healthy", [{"id": "a", "command": "true"}, {"id": "b", "command": "true", "dependencies": ["a"]}])
    assert base.wait_state("healthy")["state"] == "completed", manager.log()
    listed = base.wait_state("list-id")
    assert listed["state"] == "failed" and "id" in listed["error"], listed
    wordy = base.wait_state("wordy-limit")
    assert wordy["state"] == "failed" and "state.json is invalid: max_parallel" in wordy["error"]
    assert base.task("wordy-limit", "t")["status"] == "skipped"
    base.submit("healthy-later", [{"id": "a", "command": "true"}])
    assert base.wait_state("healthy-later")["state"] == "completed", manager.log()
    assert manager.proc is not None and manager.proc.poll() is None
    assert "cannot be processed" not in manager.log()
    assert manager.log().count("job wordy-limit: state.json is invalid") == 1
