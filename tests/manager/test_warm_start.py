"""Warm starts: subprocess runners forked from a fork server, one fresh process per task, and
nothing lost or run twice when the server dies."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
from conftest import Base, ManagerProcess, wait_for

PY = sys.executable
# Record which runner ran the task (its parent's title and pid) and that it ran, once per run.
WHO_RAN = (
    "import os, sys; title = open(f'/proc/{os.getppid()}/cmdline').read().replace(chr(0), ' ').strip();"
    " open(sys.argv[1], 'a').write(f'{sys.argv[2]} {os.getppid()} {title}' + chr(10))"
)


def fork_servers(base: Base) -> list[psutil.Process]:
    """The fork servers of the manager on `base` (children of its process)."""
    found = []
    for child in psutil.Process(int((base.path / "manager.pid").read_text())).children():
        try:
            if "air_executor_runner.forkserver" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # a server just killed, not yet reaped
            continue
    return found


def ran(marks: Path) -> list[list[str]]:
    return [line.split(" ", 2) for line in marks.read_text().splitlines()] if marks.exists() else []


def test_each_task_gets_its_own_warm_runner_named_like_a_cold_one(base: Base, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    manager = ManagerProcess(base).start()
    try:
        wait_for(lambda: "fork server ready" in manager.log(), what="the fork server")
        servers = fork_servers(base)
        tasks = [{"id": f"t{i}", "command": PY, "args": ["-c", WHO_RAN, str(marks), f"t{i}"]} for i in range(4)]
        for before, after in zip(tasks, tasks[1:], strict=False):
            after["dependencies"] = [before["id"]]
        tasks[1]["env"] = {"ONLY_FOR_T1": "yes"}
        tasks[2]["args"] = ["-c", "import os; print(os.environ.get('ONLY_FOR_T1', 'unset'))"]
        base.submit("chain", tasks)
        assert base.wait_state("chain")["state"] == "completed", manager.log()
        rows = ran(marks)
        assert [r[0] for r in rows] == ["t0", "t1", "t3"]
        pids = {r[1] for r in rows}
        assert len(pids) == 3 and not pids & {str(p.pid) for p in fork_servers(base)}  # one fresh runner each
        for task_id, _, title in rows:
            launch = base.task("chain", task_id)["launch_id"]
            assert title == f"{PY} -m air_executor_runner {base.path} chain {task_id} {launch}"
        # What one task was given is not in the next one's runner.
        assert base.log("chain", "t2").split()[0] == "unset"
        launched = re.findall(r"launched task (t\d) \(\d+:\d+:(warm|cold)\)", manager.log())
        assert launched == [(f"t{i}", "warm") for i in range(4)]
    finally:
        manager.stop()
    wait_for(lambda: not any(s.is_running() for s in servers), what="the fork server to exit with its manager")


def test_killing_the_fork_server_loses_no_task_and_runs_none_twice(base: Base, tmp_path: Path) -> None:
    """The server SIGKILLed again and again while a job runs: launches go cold meanwhile, a new server
    comes back by itself, every task runs exactly once and the job completes."""
    marks = tmp_path / "marks"
    count = 40
    slow = WHO_RAN + "; import time; time.sleep(0.1)"
    manager = ManagerProcess(base).start()
    try:
        base.submit(
            "many",
            [{"id": f"t{i}", "command": PY, "args": ["-c", slow, str(marks), f"t{i}"]} for i in range(count)],
            max_parallel=4,
        )
        kills = 0
        while kills < 4 and base.state("many")["state"] not in ("completed", "failed"):
            # Once a server is back and has started a runner (or the job is done), kill it.
            wait_for(
                lambda k=kills: manager.log().count(":warm)") > k or base.state("many")["state"] == "completed",
                what="a warm launch",
            )
            for server in fork_servers(base):
                server.send_signal(signal.SIGKILL)
            kills += 1
            time.sleep(0.3)
        assert base.wait_state("many")["state"] == "completed", manager.log()
        assert kills >= 2
        assert Counter(r[0] for r in ran(marks)) == Counter({f"t{i}": 1 for i in range(count)})
        log = manager.log()
        assert "the runners' fork server is gone" in log
        paths = Counter(re.findall(r"launched task t\d+ \(\d+:\d+:(warm|cold)\)", log))
        assert paths["cold"] >= 1 and paths["warm"] >= 1 and sum(paths.values()) == count, paths
        assert all(t["attempts"] == 1 and t["result"] == "success" for t in base.tasks("many"))
        # It comes back by itself, and the next job starts warm again.
        wait_for(lambda: back(manager.log()), what="a new fork server")
        base.submit("after", [{"id": "t", "command": "true"}])
        assert base.wait_state("after")["state"] == "completed"
        assert re.search(r"job after: launched task t \(\d+:\d+:warm\)", manager.log())
    finally:
        manager.stop()


def back(log: str) -> bool:
    """A fork server has said it is ready since the last one was lost."""
    return log.rfind("fork server ready") > log.rfind("the runners' fork server is gone")


def test_a_warm_runner_lives_through_a_manager_kill_and_is_adopted(base: Base, tmp_path: Path) -> None:
    gate, marks = tmp_path / "gate", tmp_path / "marks"
    wait_gate = f"import os, sys, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.05)\n" + WHO_RAN
    first = ManagerProcess(base).start()
    wait_for(lambda: "fork server ready" in first.log(), what="the fork server")
    base.submit("survive", [{"id": "t", "command": PY, "args": ["-c", wait_gate, str(marks), "t"]}])
    runner_id = wait_for(lambda: base.task("survive", "t").get("runner_id"), what="the task's runner")
    assert runner_id.endswith(":warm"), first.log()
    servers = fork_servers(base)
    assert servers
    first.kill()
    wait_for(lambda: not any(s.is_running() for s in servers), what="the fork server to exit with its manager")
    assert psutil.pid_exists(int(runner_id.split(":")[0]))  # the runner runs on
    second = ManagerProcess(base).start()
    try:
        wait_for(lambda: "adopted the live runner" in second.log(), what="the runner to be adopted")
        gate.touch()
        assert base.wait_state("survive")["state"] == "completed", second.log()
        assert [r[0] for r in ran(marks)] == ["t"]
        assert base.task("survive", "t")["attempts"] == 1
    finally:
        second.stop()


def test_warm_start_off_starts_every_runner_cold(base: Base) -> None:
    base.config(warm_start=False)
    manager = ManagerProcess(base).start()
    try:
        base.submit("cold", [{"id": "a", "command": "true"}, {"id": "b", "command": "true", "dependencies": ["a"]}])
        assert base.wait_state("cold")["state"] == "completed", manager.log()
        assert re.findall(r"launched task (\w) \(\d+:\d+:(warm|cold)\)", manager.log()) == [
            ("a", "cold"),
            ("b", "cold"),
        ]
        assert not fork_servers(base) and "fork server" not in manager.log()
    finally:
        manager.stop()


def test_a_root_manager_s_warm_runner_runs_its_task_as_the_folder_owner(base: Base, manager: ManagerProcess) -> None:
    """The server runs as the manager's user; each child drops to the job folder's owner before the task."""
    base.submit("who", [{"id": "t", "command": "id", "args": ["-u"]}])
    assert base.wait_state("who")["state"] == "completed", manager.log()
    expected = "10001" if os.geteuid() == 0 else str(os.geteuid())
    assert base.log("who", "t").strip() == expected
