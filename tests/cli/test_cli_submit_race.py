"""Two submits of one job name at the same moment: exactly one wins, the other fails with "already exists".

Many rounds, so that the two really overlap: from the CLI (two `air-executor submit -`
processes, released together once both wait on their standard input) and through
`Client.create_job` (two processes released by one barrier). The winner's tasks are
the job's tasks, all of them; nothing of the loser's is written.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CLI, Base, wait_for

ROUNDS_CLI = 25
ROUNDS_CLIENT = 30


def _tasks(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}-{n}", "command": "echo", "args": [prefix]} for n in range(count)]


def _reading_stdin(pid: int) -> bool:
    """True once the process sleeps in a read of its standard input pipe."""
    wchan = Path(f"/proc/{pid}/wchan").read_text()
    return "pipe" in wchan or Path(f"/proc/{pid}/syscall").read_text().startswith("0 0x0 ")


def _submit_together(base: Base, name: str, specs: list[str]) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)}
    procs = [
        subprocess.Popen(
            [CLI, "submit", "-"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in specs
    ]
    try:
        for proc in procs:
            wait_for(lambda proc=proc: _reading_stdin(proc.pid), what="submit to read its standard input")
        for proc, spec in zip(procs, specs, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(spec.encode())
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        # Their output is a line or two: reading one stream after the other cannot fill a pipe.
        outputs = [(proc.stdout.read(), proc.stderr.read()) for proc in procs]  # type: ignore[union-attr]
        for proc in procs:
            proc.wait(timeout=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [
        subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())
        for proc, (out, err) in zip(procs, outputs, strict=True)
    ]


@pytest.mark.slow
def test_two_cli_submits_of_one_name_one_wins(base: Base) -> None:
    """Each round: one `submit` prints Submitted and exits 0, the other exits 1 with one 'already exists' line."""
    lost = []
    for round_ in range(ROUNDS_CLI):
        name = f"race-{round_}"
        mine = {"a": _tasks("a", 3), "b": _tasks("b", 2)}
        specs = [yaml.safe_dump({"name": name, "tasks": tasks}) for tasks in mine.values()]
        first, second = _submit_together(base, name, specs)
        winners = [(label, r) for label, r in zip(mine, (first, second), strict=True) if r.returncode == 0]
        losers = [r for r in (first, second) if r.returncode != 0]
        if len(winners) != 1:
            lost.append(f"round {round_}: {len(winners)} submits succeeded")
            continue
        (label, winner), (loser,) = winners[0], losers
        assert winner.stdout == f"Submitted job {name} ({len(mine[label])} tasks)\n", winner.stdout
        assert loser.returncode == 1 and loser.stderr.splitlines() == [
            f"error: job {name!r} already exists in {base.path / 'jobs'}; pick another name"
        ], loser.stderr
        assert [t["id"] for t in base.tasks(name)] == [t["id"] for t in mine[label]], f"round {round_}"
    assert not lost, lost


def _create(base_path: str, name: str, label: str, barrier: Any, results: Any) -> None:
    from air_executor.client import Client
    from air_executor.errors import JobExists

    client = Client(base_path)
    tasks = _tasks(label, 3 if label == "a" else 2)
    barrier.wait()
    try:
        results.put((label, "created", client.create_job(name, tasks)))
    except JobExists as exc:
        results.put((label, "exists", str(exc)))


@pytest.mark.slow
def test_two_client_create_job_calls_of_one_name_one_wins(base: Base) -> None:
    """Each round: one Client.create_job returns the job id, the other raises JobExists; the winner's tasks are kept."""
    context = multiprocessing.get_context("fork")
    lost = []
    for round_ in range(ROUNDS_CLIENT):
        name = f"client-race-{round_}"
        barrier, results = context.Barrier(2), context.Queue()
        procs = [
            context.Process(target=_create, args=(str(base.path), name, label, barrier, results)) for label in "ab"
        ]
        for proc in procs:
            proc.start()
        outcomes = sorted(results.get(timeout=60) for _ in procs)
        for proc in procs:
            proc.join(timeout=60)
        created = [o for o in outcomes if o[1] == "created"]
        if len(created) != 1:
            lost.append(f"round {round_}: {outcomes}")
            continue
        label, _, job_id = created[0]
        assert base.state(name)["id"] == job_id, f"round {round_}"
        assert [t["id"] for t in base.tasks(name)] == [t["id"] for t in _tasks(label, 3 if label == "a" else 2)]
        (other,) = [o for o in outcomes if o[1] == "exists"]
        assert "already exists" in other[2]
    assert not lost, lost
