"""Writers replace job files atomically: no temporary files left, no reader ever sees half a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from air_executor import client
from air_executor.storage.file_store import dump_json
from air_executor.storage.jobdir import JobDir
from conftest import Base, read_json

TASKS = 3000  # about 1 MB of tasks.json
REWRITES = 60

WRITER = """
import sys
from pathlib import Path
from air_executor.storage.file_store import FileStore
base, name, rewrites = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = FileStore(base)
for version in range(1, rewrites + 1):
    with store.transaction(name) as files:
        for task in files.tasks:
            task["error"] = f"version {version}"
Path(base, "writer.done").write_text("done")
"""

READER = """
import json, sys
from pathlib import Path
tasks_file, done, expected = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
reads, bad, versions = 0, [], set()
while True:
    finished = done.exists()
    text = tasks_file.read_text()
    reads += 1
    try:
        tasks = json.loads(text)
        seen = {t["error"] for t in tasks}
        if len(tasks) != expected or len(seen) != 1:
            bad.append(f"{len(tasks)} tasks, versions {sorted(map(str, seen))[:3]}")
        versions |= seen
    except ValueError as exc:
        bad.append(f"{len(text)} bytes: {exc}")
    if reads == 1:
        print("ready", flush=True)  # the writer starts only now, so the two overlap
    if finished:
        break
print(json.dumps({"reads": reads, "bad": bad[:5], "versions": len(versions)}))
"""


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name)


def test_every_write_path_leaves_no_temporary_file(base: Base) -> None:
    """Creating, adding to, rewriting, resetting and cancelling a job leaves only its real files."""
    base.submit("tidy", [{"id": "a", "command": "echo"}])
    client.add_tasks(base.store, "tidy", [{"id": "b", "command": "echo", "dependencies": ["a"]}])
    with base.store.transaction("tidy") as files:
        assert files.tasks is not None and files.state is not None
        files.tasks[0]["status"] = "failed"
        files.state["state"] = "failed"  # only a failed (or cancelled) job can be reset
    client.reset_job(base.store, "tidy")
    base.store.write_job_state(base.store.read_job_state("tidy"))
    client.cancel_job(base.store, "tidy")
    job_dir = base.job_dir("tidy")
    assert sorted(p.name for p in job_dir.iterdir()) == [".lock", "ids", "logs", "queue", "state.json", "tasks.json"]
    assert _leftovers(base.path) == []


def test_a_failed_write_removes_its_temporary_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    """When writing fails midway the old file stays whole and the temporary file is removed."""
    (tmp_path / "job").mkdir()
    with JobDir(str(tmp_path), "job") as job_dir:
        job_dir.write("state.json", dump_json({"state": "waiting"}))
        with pytest.raises(TypeError):
            job_dir.write("state.json", 12345)  # type: ignore[arg-type]  # fails after the temp file is made
    assert read_json(tmp_path / "job" / "state.json") == {"state": "waiting"}
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["state.json"]


def test_listing_skips_hidden_temporary_and_invalid_entries(base: Base) -> None:
    """list_job_names returns real job folders only: no hidden, temporary, invalid or plain-file entries."""
    base.submit("real-job", [{"command": "echo"}])
    jobs = base.path / "jobs"
    for folder in (".hidden", ".real-job.tmp", "half.tmp", "has space", "dots.in.name"):
        (jobs / folder).mkdir()
        (jobs / folder / "state.json").write_text('{"name": "x", "state": "waiting"}')
    (jobs / ".state.json.123.0.tmp").write_text("{")
    (jobs / "plain-file").write_text("not a job")
    assert base.store.list_job_names() == ["real-job"]


def test_a_reader_never_sees_a_partial_file_while_it_is_rewritten(base: Base) -> None:
    """A lock-free reader process reads a 1 MB tasks.json rewritten 60 times by another process: always whole."""
    base.submit("big", [{"id": f"t{i}", "command": "echo", "args": ["x" * 200]} for i in range(TASKS)])
    with base.store.transaction("big") as files:
        for task in files.tasks or []:
            task["error"] = "version 0"
    done = base.path / "writer.done"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(base.job_dir("big") / "tasks.json"), str(done), str(TASKS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdout.readline() == "ready\n"
    writer = subprocess.run(
        [sys.executable, "-c", WRITER, str(base.path), "big", str(REWRITES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert writer.returncode == 0, writer.stderr
    out, _ = reader.communicate(timeout=60)
    report = json.loads(out)
    assert report["bad"] == [], report
    assert report["versions"] >= 2 and report["reads"] >= 2, report  # the reader really overlapped the writer
    assert {t["error"] for t in base.tasks("big")} == {f"version {REWRITES}"}
    assert _leftovers(base.path) == []
