"""`air-executor backup`: a copy taken mid-job, restored into a new base folder, finishes the job."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from conftest import Base, ManagerProcess, cli, error_line, wait_for


def gated(gate: Path, line: str) -> dict:
    return {"command": "sh", "args": ["-c", f"while [ ! -e {gate} ]; do sleep 0.05; done; echo {line}"]}


def test_a_backup_taken_mid_job_restores_and_finishes(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    base.submit("done", [{"id": "t", "command": "echo", "args": ["finished before"]}])
    assert base.wait_state("done")["state"] == "completed"
    base.submit(
        "chain",
        [
            {"id": "a", "command": "echo", "args": ["a ran"]},
            {"id": "held", **gated(gate, "held ran"), "dependencies": ["a"]},
            {"id": "c", "command": "echo", "args": ["c ran"], "dependencies": ["held"]},
        ],
    )
    wait_for(lambda: base.task("chain", "held").get("started_at"), what="the held task to start")
    archive = tmp_path / "base.tar.gz"
    result = cli("backup", str(archive), base=base)
    assert result.returncode == 0, result.stderr
    assert "Backed up 2 job(s)" in result.stdout
    assert "chain: running task(s) stored pending, to run again on restore: held" in result.stdout
    gate.touch()  # the original goes on and finishes; the copy is what it was
    assert base.wait_state("chain")["state"] == "completed"

    with tarfile.open(archive) as tar:  # plain files and folders only, all under the base folder
        members = tar.getmembers()
    assert all(m.isfile() or m.isdir() for m in members)
    assert all(not m.name.startswith(("/", "..")) for m in members)
    assert not any(m.name.endswith(("manager.pid", "manager.log", ".lock")) for m in members)

    restored = Base(tmp_path / "restored")
    restored.path.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(restored.path)], check=True)
    held = restored.task("chain", "held")
    assert held["status"] == "pending" and held["attempts"] == 0 and "launch_id" not in held
    assert restored.task("chain", "a")["status"] == "completed"
    assert restored.log("chain", "a") == "a ran\n"
    assert restored.log("done", "t") == "finished before\n"
    assert not (restored.job_dir("chain") / "runs").exists()  # the journal is folded in

    copy = ManagerProcess(restored).start()
    try:
        assert restored.wait_state("chain")["state"] == "completed", copy.log()
        assert restored.log("chain", "a") == "a ran\n"  # done before the backup: not run again
        assert restored.log("chain", "held").endswith("held ran\n")
        assert restored.task("chain", "held")["attempts"] == 1
        assert restored.log("chain", "c") == "c ran\n"
        assert restored.state("done")["state"] == "completed"
    finally:
        copy.stop()


def test_backup_refuses_what_it_must_not_write(base: Base, tmp_path: Path) -> None:
    base.submit("one", [{"id": "t", "command": "true"}])
    existing = tmp_path / "there.tar"
    existing.write_bytes(b"keep me")
    result = cli("backup", str(existing), base=base)
    assert "already exists" in error_line(result)
    assert existing.read_bytes() == b"keep me"
    assert "must end in .tar, .tar.gz or .tgz" in error_line(cli("backup", str(tmp_path / "b.zip"), base=base))
    assert not list(tmp_path.glob(".*partial"))


def test_a_job_authors_symlink_or_fifo_is_left_out(base: Base, tmp_path: Path) -> None:
    base.submit("sly", [{"id": "t", "command": "true"}])
    logs = base.job_dir("sly") / "logs"
    logs.mkdir(exist_ok=True)
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    (logs / "t.log").symlink_to(secret)
    os.mkfifo(logs / "pipe.log")
    archive = tmp_path / "b.tar"
    result = cli("backup", str(archive), base=base, timeout=30)
    assert result.returncode == 0, result.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert "jobs/sly/tasks.json" in names
        assert not any(name.endswith(("t.log", "pipe.log")) for name in names)
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None and b"host secret" not in extracted.read()
