"""Retention: `air-executor prune` and the manager's `retention` remove finished jobs, never one in use."""

from __future__ import annotations

import json
import time

from air_executor.core.clock import now_iso
from air_executor.storage.lock import JobLock
from conftest import Base, ManagerProcess, cli, error_line, wait_for

DAY = 86400


def finished(base: Base, name: str, state: str, days_ago: float) -> None:
    """A job that ended `days_ago` days ago (its state.json as the manager leaves it)."""
    base.submit(name, [{"id": "t", "command": "true"}])
    path = base.job_dir(name) / "state.json"
    doc = json.loads(path.read_text())
    doc.update(state=state, updated_at=now_iso(time.time() - days_ago * DAY))
    path.write_text(json.dumps(doc))
    (base.job_dir(name) / "logs" / "t.log").write_text("output\n")


def jobs(base: Base) -> set[str]:
    return {p.name for p in (base.path / "jobs").iterdir()}


def test_prune_removes_what_it_is_told_and_nothing_else(base: Base) -> None:
    finished(base, "old-ok", "completed", 10)
    finished(base, "older-ok", "completed", 20)
    finished(base, "old-failed", "failed", 10)
    finished(base, "new-ok", "completed", 1)
    finished(base, "old-cancelled", "cancelled", 9)
    base.submit("waiting", [{"id": "t", "command": "true"}])  # never finished: never pruned
    everything = jobs(base)

    dry = cli("prune", "--older-than", "7d", "--dry-run", base=base)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[:4] == [  # oldest first
        "would remove older-ok (completed 20.0 days ago)",
        "would remove old-ok (completed 10.0 days ago)",
        "would remove old-failed (failed 10.0 days ago)",
        "would remove old-cancelled (cancelled 9.0 days ago)",
    ]
    assert "4 job(s) would be removed (--dry-run: nothing was)." in dry.stdout
    assert jobs(base) == everything

    done = cli("prune", "--older-than", "7d", "--state", "completed", base=base)
    assert done.returncode == 0, done.stderr
    assert "removed older-ok (completed 20.0 days ago)" in done.stdout
    assert "removed old-ok (completed 10.0 days ago)" in done.stdout
    assert done.stdout.strip().endswith("Removed 2 job(s).")
    assert jobs(base) == everything - {"old-ok", "older-ok"}
    assert not [n for n in (base.path / "jobs").iterdir() if n.name.startswith(".")]  # nothing half removed

    # A job being read or changed under its lock is kept; the rest of the run goes on.
    with base.store.open_job("old-failed") as job_dir, JobLock(job_dir, timeout=5):
        held = cli("prune", "--state", "failed", "--state", "cancelled", base=base)
    assert held.returncode == 0, held.stderr
    assert "kept old-failed: its lock is held" in held.stdout
    assert "removed old-cancelled" in held.stdout
    assert jobs(base) == {"old-failed", "new-ok", "waiting"}

    # A pruned job's name is free again.
    base.submit("old-ok", [{"id": "again", "command": "true"}])
    assert [t["id"] for t in base.tasks("old-ok")] == ["again"]
    nothing = cli("prune", "--older-than", "30d", base=base)
    assert nothing.returncode == 0 and nothing.stdout.strip() == "No finished job matches; nothing to remove."


def test_prune_bad_input_is_one_line(base: Base) -> None:
    finished(base, "kept", "completed", 10)
    bad_age = cli("prune", "--older-than", "7x", base=base)
    assert bad_age.returncode == 2 and "7x" in error_line(bad_age, 2) and "'7d'" in error_line(bad_age, 2)
    bad_state = cli("prune", "--state", "running", base=base)
    assert bad_state.returncode == 2 and "running" in error_line(bad_state, 2)
    assert jobs(base) == {"kept"}


def test_the_manager_applies_retention_by_itself(base: Base) -> None:
    base.config(retention={"completed": {"max_count": 2}, "failed": {"max_age": "2s"}})
    for i in range(4):
        finished(base, f"done-{i}", "completed", 4 - i)  # done-0 is the oldest
    finished(base, "broke", "failed", 0)
    locked = base.store.open_job("done-1")
    lock = JobLock(locked, timeout=5)
    lock.__enter__()  # a client reading done-1 under its lock: kept while it does
    manager = ManagerProcess(base).start()
    try:
        wait_for(lambda: "done-0" not in jobs(base), what="the oldest completed job to be removed")
        wait_for(lambda: "broke" not in jobs(base), what="the failed job to go past its max_age")
        assert {"done-1", "done-2", "done-3"} <= jobs(base)
        lock.__exit__(None, None, None)
        locked.close()
        wait_for(lambda: "done-1" not in jobs(base), what="done-1 to go once its lock is free")
        base.submit("fresh", [{"id": "t", "command": "true"}])
        assert base.wait_state("fresh")["state"] == "completed"
        # max_count 2: done-3 and fresh are the newest; done-2 goes.
        wait_for(lambda: jobs(base) == {"done-3", "fresh"}, what="only the two newest completed jobs to stay")
        log = manager.log()
        assert "job done-0: removed by retention (completed 4.0 days ago)" in log
        assert "job broke: removed by retention (failed" in log
    finally:
        manager.stop()
