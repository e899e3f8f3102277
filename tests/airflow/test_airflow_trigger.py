"""AirExecutorJobTrigger: its serialisation, pinned, and its async generator run against real job files."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from airflow_kit import AirExecutorJobTrigger, airflow_db
from conftest import Base, ManagerProcess, naive_write

# The fixtures of tests/airflow/airflow_kit.py, which pytest finds by these names.
FIXTURES = (airflow_db,)

TWO_TASKS = [
    {"id": "one", "command": "echo", "args": ["1"]},
    {"id": "two", "command": "echo", "args": ["2"], "dependencies": ["one"]},
]


def first_event(trigger: AirExecutorJobTrigger, timeout: float = 60) -> dict[str, Any]:
    """Run the trigger as the triggerer does, until its first event; return that event's payload."""

    async def run() -> Any:
        return await asyncio.wait_for(anext(trigger.run()), timeout)

    return dict(asyncio.run(run()).payload)


def summary(job: str, state: str, **counts: int) -> dict[str, Any]:
    base = {"pending": 0, "running": 0, "completed": 0, "failed": 0, "skipped": 0, "cancelled": 0}
    return {"job_name": job, "state": state, "total_tasks": sum(counts.values()), **base, **counts, "error": None}


def test_serialize_is_pinned() -> None:
    trigger = AirExecutorJobTrigger(
        job_name="nightly", base_path="/data/.air-executor", poll_interval=2.0, deadline=1767225600.5
    )
    assert trigger.serialize() == (
        "air_executor.airflow.triggers.air_executor.AirExecutorJobTrigger",
        {
            "job_name": "nightly",
            "base_path": "/data/.air-executor",
            "poll_interval": 2.0,
            "deadline": 1767225600.5,
            "known": False,
        },
    )
    assert AirExecutorJobTrigger(job_name="j", base_path="/b").serialize()[1] == {
        "job_name": "j",
        "base_path": "/b",
        "poll_interval": 2.0,
        "deadline": None,
        "known": False,
    }


@pytest.mark.usefixtures("airflow_db")
def test_round_trip_through_the_triggerer_table() -> None:
    """Stored as the triggerer stores it (encrypted kwargs row) and rebuilt from its class path."""
    from airflow.models.trigger import Trigger
    from airflow.sdk._shared.module_loading import import_string

    trigger = AirExecutorJobTrigger(
        job_name="nightly", base_path="/data/.air-executor", poll_interval=0.5, deadline=1767225600.25
    )
    row = Trigger.from_object(trigger)
    assert row.classpath == "air_executor.airflow.triggers.air_executor.AirExecutorJobTrigger"
    rebuilt = import_string(row.classpath)(**row.kwargs)
    assert isinstance(rebuilt, AirExecutorJobTrigger)
    assert rebuilt.serialize() == trigger.serialize()
    json.dumps(trigger.serialize()[1])  # plain values only


def test_completed_job_fires_success(base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]) -> None:
    base.submit("trig-ok", TWO_TASKS)
    event = first_event(AirExecutorJobTrigger("trig-ok", str(base.path), poll_interval=0.1))
    assert event == {
        "status": "success",
        "job_name": "trig-ok",
        "state": "completed",
        "message": "Air-Executor job trig-ok completed",
        "summary": summary("trig-ok", "completed", completed=2),
    }
    assert "📊 Job trig-ok state: completed" in capfd.readouterr().out


def test_failed_job_fires_error_naming_the_task(base: Base, manager: ManagerProcess) -> None:
    base.submit(
        "trig-bad",
        [
            {"id": "boom", "command": "sh", "args": ["-c", "exit 4"]},
            {"id": "after", "command": "true", "dependencies": ["boom"]},
        ],
    )
    event = first_event(AirExecutorJobTrigger("trig-bad", str(base.path), poll_interval=0.1))
    assert event["status"] == "error" and event["state"] == "failed"
    assert event["message"].startswith("Air-Executor job trig-bad failed: ")
    assert "boom" in event["message"] and "exited with code 4" in event["message"]
    assert event["summary"]["failed"] == 1 and event["summary"]["skipped"] == 1


def test_deadline_fires_timeout_while_the_job_waits(base: Base, capfd: pytest.CaptureFixture[str]) -> None:
    """No manager: the job stays waiting on disk; at the deadline the trigger says so."""
    base.submit("trig-late", TWO_TASKS)
    started = time.time()
    event = first_event(AirExecutorJobTrigger("trig-late", str(base.path), poll_interval=0.1, deadline=started + 1))
    assert time.time() - started >= 1
    assert event == {
        "status": "timeout",
        "job_name": "trig-late",
        "state": "waiting",
        "message": "Air-Executor job trig-late is still waiting at its deadline",
        "summary": summary("trig-late", "waiting", pending=2),
    }
    out = capfd.readouterr().out
    assert out.count("📊 Job trig-late state: waiting") == 1, "progress is logged when it changes, not every poll"
    assert "⏳ Waiting for job to be picked up..." in out


def test_cancelled_job_fires_error(base: Base) -> None:
    from air_executor.client import cancel_job

    base.submit("trig-cancel", TWO_TASKS)
    cancel_job(base.store, "trig-cancel")
    event = first_event(AirExecutorJobTrigger("trig-cancel", str(base.path), poll_interval=0.1))
    assert event["status"] == "error" and event["state"] == "cancelled"
    assert event["message"] == "Air-Executor job trig-cancel cancelled: cancelled"


def test_waits_through_missing_and_half_written_files(base: Base) -> None:
    """A job that does not exist yet, then a state.json caught half written, is 'not yet', not an error."""
    job_dir = base.path / "jobs" / "trig-naive"

    async def scenario() -> Any:
        trigger = AirExecutorJobTrigger("trig-naive", str(base.path), poll_interval=0.05, deadline=time.time() + 30)
        waiting = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(0.3)
        job_dir.mkdir(parents=True)
        (job_dir / "state.json").write_text('{"id": "x", "name": "trig-na')  # a writer caught mid-way
        await asyncio.sleep(0.3)
        assert not waiting.done()
        naive_write(
            job_dir / "tasks.json",
            [
                {
                    "id": "t",
                    "job_name": "trig-naive",
                    "command": "true",
                    "args": [],
                    "dependencies": [],
                    "status": "completed",
                    "created_at": None,
                    "started_at": None,
                    "completed_at": None,
                    "error": None,
                }
            ],
        )
        naive_write(
            job_dir / "state.json",
            {
                "id": "x",
                "name": "trig-naive",
                "state": "completed",
                "created_at": "2025-10-02T07:30:15.000000Z",
                "updated_at": "2025-10-02T07:30:25.000000Z",
            },
        )
        return await asyncio.wait_for(waiting, 10)

    event = asyncio.run(scenario()).payload
    assert event["status"] == "success" and event["summary"]["completed"] == 1


def test_invalid_job_name_fires_error_at_once(base: Base) -> None:
    event = first_event(AirExecutorJobTrigger("../etc", str(base.path), poll_interval=0.1), timeout=5)
    assert event["status"] == "error" and event["state"] is None
    assert "invalid job name '../etc'" in event["message"]
    assert "summary" not in event


def test_a_job_pruned_while_waited_on_fires_error_saying_it_is_gone(base: Base) -> None:
    """Seen once, then removed (retention, prune): gone, with a clear message, not a wait until the deadline."""
    from air_executor.storage.prune import finished_jobs, remove_job

    base.submit("trig-pruned", TWO_TASKS)

    async def scenario() -> Any:
        trigger = AirExecutorJobTrigger("trig-pruned", str(base.path), poll_interval=1.0)
        waiting = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(1.3)  # it has read the job (waiting) once; the next read is 0.7 s away
        assert not waiting.done() and trigger.known
        from air_executor.client import cancel_job

        cancel_job(base.store, "trig-pruned")
        (job,) = [j for j in finished_jobs(base.store) if j.name == "trig-pruned"]
        assert remove_job(base.store, job) is None
        return await asyncio.wait_for(waiting, 30)

    trigger_event = asyncio.run(scenario())
    event = dict(trigger_event.payload)
    assert event["status"] == "error"  # cancelled and removed between two polls: it finds the folder gone
    assert event["message"].startswith("Air-Executor job trig-pruned is gone: its folder was removed"), event


def test_an_operators_job_missing_at_the_first_poll_is_gone(base: Base) -> None:
    """`known=True` (the operator has just read the job): a missing folder is not 'not yet'."""
    event = first_event(AirExecutorJobTrigger("trig-gone", str(base.path), poll_interval=0.05, known=True))
    assert event["status"] == "error"
    assert event["message"].startswith("Air-Executor job trig-gone is gone: its folder was removed")
