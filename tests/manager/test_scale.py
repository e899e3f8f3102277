"""Scale sanity: thousands of finished jobs neither stop a new job nor get re-read on every poll."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import Base, ManagerProcess
from taskkit import proc_reads

FINISHED = 2000
STAMP = "2025-10-02T07:30:15.123456Z"


def write_finished_jobs(jobs: Path, count: int) -> None:
    for i in range(count):
        job_dir = jobs / f"old-{i:05d}"
        (job_dir / "logs").mkdir(parents=True)
        task = {
            "id": "t",
            "job_name": job_dir.name,
            "command": "true",
            "args": [],
            "dependencies": [],
            "status": "completed",
            "created_at": STAMP,
            "started_at": STAMP,
            "completed_at": STAMP,
            "error": None,
        }
        (job_dir / "tasks.json").write_text(json.dumps([task]))
        state = {
            "id": f"id-{i}",
            "name": job_dir.name,
            "state": "completed" if i % 5 else "failed",
            "created_at": STAMP,
            "updated_at": STAMP,
        }
        (job_dir / "state.json").write_text(json.dumps(state))


def test_new_job_runs_among_thousands_of_finished_ones(base: Base, tmp_path: Path) -> None:
    """With 2,000 finished jobs on disk a new job completes, old ones stay untouched and are not re-read each poll."""
    jobs = base.path / "jobs"
    write_finished_jobs(jobs, FINISHED)
    sample = jobs / "old-00007" / "state.json"
    before = sample.read_bytes(), sample.stat().st_mtime_ns
    base.config(log_level="INFO")
    manager = ManagerProcess(base).start()
    try:
        base.submit("fresh", [{"id": "a", "command": "true"}, {"id": "b", "command": "true", "dependencies": ["a"]}])
        assert base.wait_state("fresh")["state"] == "completed", manager.log()
        assert manager.proc is not None
        reads_before = proc_reads(manager.proc.pid)
        assert reads_before >= FINISHED  # the instrument works: start-up read every state.json once
        time.sleep(3.5)  # a stretch of several poll intervals (poll_interval is 1 s); not an assertion on speed
        reads = proc_reads(manager.proc.pid) - reads_before
        base.submit("fresh-2", [{"id": "a", "command": "true"}])
        assert base.wait_state("fresh-2")["state"] == "completed", manager.log()
        assert manager.proc.poll() is None
    finally:
        manager.stop()
    # Re-reading every finished job on each poll would take thousands of read calls per poll.
    assert reads < FINISHED // 4, f"{reads} read calls while idle over ~3 polls"
    assert (sample.read_bytes(), sample.stat().st_mtime_ns) == before
    assert "old-00007" not in manager.log()
