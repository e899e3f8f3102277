"""Recurring jobs under a real manager (README "Scheduling"): schedules of one or two seconds stand in
for a nightly cron, so the tests wait seconds, not minutes. Runs are read back from the jobs made
(`<name>-<YYYYmmddTHHMMSSZ>`) and their recorded times, never from how long a wait took."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from air_executor.storage import schedules
from conftest import Base, ManagerProcess, cli, error_line, parse_time, wait_for

JOB = {"tasks": [{"id": "t", "command": "true"}]}


def _write(base: Base, name: str, **doc: object) -> None:
    folder = base.path / "schedules"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({"job": JOB, **doc}))


def _runs(base: Base, name: str) -> list[str]:
    jobs = base.path / "jobs"
    return sorted(p.name for p in jobs.iterdir() if p.name.startswith(f"{name}-")) if jobs.is_dir() else []


def _due(job: str) -> float:
    return datetime.strptime(job.rsplit("-", 1)[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def test_a_schedule_makes_a_run_at_each_due_time(base: Base, manager: ManagerProcess) -> None:
    """Every two seconds: each run is named after its due time, created at or after it, one per time."""
    _write(base, "tick", cron="* * * * * */2", allow_overlap=True)
    wait_for(lambda: len(_runs(base, "tick")) >= 3, what="three runs of the schedule")
    runs = _runs(base, "tick")[:3]
    dues = [_due(r) for r in runs]
    assert all(b - a == 2 for a, b in zip(dues, dues[1:], strict=False)), runs
    for run in runs:
        assert base.wait_state(run)["state"] == "completed", manager.log()
        assert parse_time(base.state(run)["created_at"]) >= _due(run)
    assert "schedule tick: created job" in manager.log()


def test_one_missed_run_is_caught_up_after_downtime_and_none_with_catch_up_none(base: Base) -> None:
    """Written while no manager runs, due several times meanwhile: `one` runs once at start, `none` not."""
    past = time.time() - 30  # as if the files had been there half a minute, the manager down all along
    _write(base, "catchup", cron="* * * * * */5")
    _write(base, "skipper", cron="* * * * * */5", catch_up="none")
    for name in ("catchup", "skipper"):
        schedules.write_state(base.path, name, past, None)
    started = time.time()
    manager = ManagerProcess(base).start()
    try:
        caught = wait_for(lambda: _runs(base, "catchup"), what="the catch-up run")
        assert len(caught) == 1 and started - 5 < _due(caught[0]) < started + 1  # the latest missed time
        # The first due time after the manager started makes skipper's first run: none of the missed ones.
        first = wait_for(lambda: _runs(base, "skipper"), timeout=15, what="skipper's first run on time")
        assert _due(first[0]) >= started
        assert "catch_up none skips it" in manager.log()
        assert len([r for r in _runs(base, "catchup") if _due(r) < _due(first[0])]) == 1
    finally:
        manager.stop()


def test_a_manager_down_across_a_due_time_catches_it_up_once_on_restart(base: Base, manager: ManagerProcess) -> None:
    _write(base, "nightly", cron="* * * * * */6")
    first = wait_for(lambda: _runs(base, "nightly"), what="a first run")
    base.wait_state(first[0])  # else its run still going holds back the next (allow_overlap: false)
    manager.stop()
    before = set(_runs(base, "nightly"))
    # Two due times pass with no manager; it comes back half-way between two (away from the boundary).
    time.sleep(12 + (3 - time.time() % 6) % 6)
    assert set(_runs(base, "nightly")) == before
    restarted = time.time()
    latest_missed = restarted - restarted % 6
    manager.start()
    wait_for(lambda: len(set(_runs(base, "nightly")) - before) >= 2, what="the catch-up and the next run")
    new = sorted(set(_runs(base, "nightly")) - before)
    assert [_due(r) for r in new[:2]] == [latest_missed, latest_missed + 6], (new, manager.log())  # latest missed, once
    assert parse_time(base.state(new[0])["created_at"]) < latest_missed + 6  # made at start, not at its next time


def test_runs_never_overlap_unless_allowed(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """Runs that take 2.5 s on a schedule of every second: never two at once; with allow_overlap, yes."""
    slow = {"tasks": [{"id": "t", "command": "sleep", "args": ["2.5"]}]}
    folder = base.path / "schedules"
    folder.mkdir()
    (folder / "single.yaml").write_text(yaml.safe_dump({"cron": "* * * * * *", "job": slow}))
    (folder / "many.yaml").write_text(yaml.safe_dump({"cron": "* * * * * *", "allow_overlap": True, "job": slow}))
    wait_for(lambda: len(_runs(base, "single")) >= 2 and len(_runs(base, "many")) >= 3, timeout=30, what="runs")
    (folder / "single.yaml").unlink()
    (folder / "many.yaml").unlink()
    for name in ("single", "many"):
        spans = []
        for run in _runs(base, name):
            state = base.wait_state(run)
            spans.append((parse_time(state["created_at"]), parse_time(state["updated_at"])))
        overlap = any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))
        assert overlap == (name == "many"), (name, spans)
    assert "skipped: its previous run single-" in manager.log()


def test_bad_schedule_files_are_logged_and_harm_nothing(base: Base, manager: ManagerProcess) -> None:
    folder = base.path / "schedules"
    folder.mkdir()
    (folder / "broken.yaml").write_text("cron: '61 * * * *'\njob: {tasks: [{id: t, command: 'true'}]}\n")
    (folder / "fifo.yaml").unlink(missing_ok=True)
    import os

    os.mkfifo(folder / "fifo.yaml")
    # A few kilobytes that a YAML loader with aliases would expand into billions of items, and a deep nest.
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    (folder / "laughs.yaml").write_text("\n".join(laughs) + "\ncron: '* * * * *'\njob: *i\n")
    (folder / "deep.yaml").write_text("cron: '* * * * *'\njob: " + "[" * 100_000 + "]" * 100_000 + "\n")
    _write(base, "good", cron="* * * * * *")
    wait_for(lambda: _runs(base, "good"), what="the good schedule's run")
    wait_for(lambda: "schedule broken: schedule 'broken' is invalid: cron: must be a cron" in manager.log())
    assert "schedule fifo:" in manager.log() and "is not a regular file" in manager.log()
    assert "aliases (*name) are not allowed in a schedule file" in manager.log()
    assert "schedule deep:" in manager.log()
    assert manager.proc is not None and manager.proc.poll() is None
    listing = cli("schedule", "list", base=base)
    assert listing.returncode == 0 and "broken: schedule 'broken' is invalid" in listing.stdout


def test_schedule_commands(base: Base, tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({"name": "ignored", **JOB}))
    added = cli(
        "schedule", "add", "nightly", str(spec), "--cron", "0 2 * * *", "--timezone", "Europe/Berlin", base=base
    )
    assert added.returncode == 0, added.stderr
    assert "Added schedule nightly (0 2 * * * Europe/Berlin): next run" in added.stdout
    doc = yaml.safe_load((base.path / "schedules" / "nightly.yaml").read_text())
    assert doc["job"]["tasks"][0]["submit_dir"] == str(Path.cwd()) and "name" not in doc["job"]
    again = cli("schedule", "add", "nightly", str(spec), "--cron", "0 3 * * *", base=base)
    assert error_line(again) == "error: schedule 'nightly' exists already; --replace replaces it"
    bad_cron = cli("schedule", "add", "x", str(spec), "--cron", "every day", base=base)
    assert "cron: must be a cron expression such as '0 2 * * *'" in error_line(bad_cron)
    bad_zone = cli("schedule", "add", "x", str(spec), "--cron", "0 2 * * *", "--timezone", "Mars/Base", base=base)
    assert "timezone: must be an IANA time zone" in error_line(bad_zone)
    spec.write_text(yaml.safe_dump({"tasks": [{"id": "t", "command": "true", "retries": 1000}]}))
    bad_job = cli("schedule", "add", "x", str(spec), "--cron", "0 2 * * *", base=base)
    assert "retries: must be at most 100, got 1000" in error_line(bad_job)
    assert cli("schedule", "pause", "nightly", base=base).stdout == "Paused schedule nightly\n"
    rows = cli("schedule", "list", base=base).stdout
    assert "nightly" in rows and "paused" in rows and "x " not in rows
    resumed = cli("schedule", "resume", "nightly", base=base)
    assert "Resumed schedule nightly: next run" in resumed.stdout and "(nightly-" in resumed.stdout
    assert cli("schedule", "remove", "nightly", base=base).returncode == 0
    assert error_line(cli("schedule", "remove", "nightly", base=base)).startswith("error: no schedule 'nightly'")
    assert "No schedules" in cli("schedule", "list", base=base).stdout


def test_the_python_client_manages_schedules(base: Base, manager: ManagerProcess) -> None:
    from air_executor.client import Client

    client = Client(base.path)
    client.add_schedule("py", "* * * * * *", [{"id": "t", "command": "true"}], priority=4, timezone="Europe/Berlin")
    assert client.schedules() == ["py"]
    run = wait_for(lambda: _runs(base, "py"), what="a run of the client's schedule")[0]
    assert base.wait_state(run)["state"] == "completed" and base.state(run)["priority"] == 4
    client.pause_schedule("py")
    wait_for(lambda: "schedule py: * * * * * * Europe/Berlin (paused)" in manager.log(), what="the manager to see it")
    paused_at = time.time()
    time.sleep(2.5)  # two due times pass while paused
    assert all(_due(r) <= paused_at for r in _runs(base, "py")), "a paused schedule made a run"
    assert client.remove_schedule("py") and client.schedules() == []
