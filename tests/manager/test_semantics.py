"""PRODUCT.md §4 under a real manager: readiness, limits on parallel runners, failure, commands and context."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Base, ManagerProcess, parse_time, wait_for
from taskkit import (
    PY,
    alive,
    mark_task,
    max_overlap,
    naive_job,
    read_intervals,
    read_pids,
    runner_intervals,
    writable_dir,
)


def test_independent_tasks_all_complete(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """Tasks without dependencies all run once each and the job completes."""
    marks = tmp_path / "marks"
    base.submit("indep", [mark_task(f"t{i}", marks) for i in range(4)])
    assert base.wait_state("indep")["state"] == "completed", manager.log()
    assert sorted(read_intervals(marks)) == ["t0", "t1", "t2", "t3"]
    assert all(t["status"] == "completed" and t["attempts"] == 1 for t in base.tasks("indep"))


def test_dependencies_order_a_diamond(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A task starts only after every dependency ended, even when listed before them."""
    marks = tmp_path / "marks"
    base.submit(
        "diamond",
        [
            mark_task("join", marks, dependencies=["left", "right"]),
            mark_task("left", marks, dependencies=["root"]),
            mark_task("right", marks, dependencies=["root"]),
            mark_task("root", marks),
        ],
        max_parallel=3,
    )
    assert base.wait_state("diamond")["state"] == "completed", manager.log()
    runs = read_intervals(marks)
    assert runs["root"][1] <= runs["left"][0] and runs["root"][1] <= runs["right"][0]
    assert max(runs["left"][1], runs["right"][1]) <= runs["join"][0]


def test_default_single_runner_per_job_while_jobs_run_concurrently(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """With the default max_parallel no two tasks of a job overlap, yet two jobs run at the same time."""
    barrier = tmp_path / "barrier"
    marks = {name: tmp_path / f"{name}.marks" for name in ("ja", "jb")}
    for name in marks:
        # Each job's first task waits until the other job's first task is running too.
        tasks = [mark_task(f"{name}-meet", marks[name], barrier=barrier, need=2)]
        tasks += [mark_task(f"{name}-{i}", marks[name], sleep=0.05) for i in range(4)]
        base.submit(name, tasks)
    for name in marks:
        assert base.wait_state(name)["state"] == "completed", manager.log()
    everything = []
    for name, path in marks.items():
        runs = read_intervals(path)
        assert len(runs) == 5
        assert max_overlap(runs.values()) == 1, runs
        assert max_overlap(runner_intervals(base.tasks(name))) == 1
        everything += runs.values()
    assert max_overlap(everything) == 2


def test_max_parallel_three_runs_three_at_once_and_no_more(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A job with max_parallel 3 has three tasks running together, never four."""
    marks, barrier = tmp_path / "marks", tmp_path / "barrier"
    base.submit(
        "wide", [mark_task(f"t{i}", marks, barrier=barrier, need=3, sleep=0.1) for i in range(7)], max_parallel=3
    )
    assert base.wait_state("wide")["state"] == "completed", manager.log()
    assert max_overlap(read_intervals(marks).values()) == 3
    assert max_overlap(runner_intervals(base.tasks("wide"))) <= 3


def test_max_concurrent_runners_caps_runners_over_all_jobs(base: Base, tmp_path: Path) -> None:
    """Config max_concurrent_runners 2 holds across three jobs that would each run three tasks."""
    base.config(max_concurrent_runners=2)
    marks, barrier = tmp_path / "marks", tmp_path / "barrier"
    for j in range(3):
        base.submit(
            f"cap{j}",
            [mark_task(f"j{j}t{i}", marks, barrier=barrier, need=2, sleep=0.1) for i in range(3)],
            max_parallel=3,
        )
    manager = ManagerProcess(base).start()
    try:
        for j in range(3):
            assert base.wait_state(f"cap{j}")["state"] == "completed", manager.log()
    finally:
        manager.stop()
    assert max_overlap(read_intervals(marks).values()) == 2
    all_tasks = [t for j in range(3) for t in base.tasks(f"cap{j}")]
    assert max_overlap(runner_intervals(all_tasks)) <= 2


def test_failed_task_fails_job_skips_dependents_and_runs_independent_tasks(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """A failure skips its dependents (naming the dependency) but independent tasks still run."""
    marks = tmp_path / "marks"
    base.submit(
        "cascade",
        [
            {"id": "bad", "command": "false"},
            mark_task("child", marks, dependencies=["bad"]),
            mark_task("grandchild", marks, dependencies=["child"]),
            mark_task("free", marks),
        ],
    )
    state = base.wait_state("cascade")
    assert state["state"] == "failed", manager.log()
    assert "bad" in state["error"]
    tasks = {t["id"]: t for t in base.tasks("cascade")}
    assert tasks["bad"]["status"] == "failed" and tasks["bad"]["exit_code"] == 1
    assert tasks["child"]["status"] == "skipped" and "'bad'" in tasks["child"]["error"]
    assert tasks["grandchild"]["status"] == "skipped" and "'child'" in tasks["grandchild"]["error"]
    assert tasks["free"]["status"] == "completed"
    assert sorted(read_intervals(marks)) == ["free"]  # skipped tasks never ran


def test_unknown_dependency_from_a_naive_writer_fails_the_job(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """A dependency on a task id that does not exist fails the job with an error naming it."""
    marks = tmp_path / "marks"
    naive_job(
        base.path / "jobs",
        "unknown-dep",
        [
            mark_task("a", marks),
            mark_task("b", marks, dependencies=["a", "ghost"]),
        ],
    )
    state = base.wait_state("unknown-dep")
    assert state["state"] == "failed", manager.log()
    assert "ghost" in state["error"]
    assert "unknown" in base.task("unknown-dep", "b")["error"]
    assert "b" not in read_intervals(marks)
    assert manager.proc is not None and manager.proc.poll() is None


def test_dependency_cycle_from_a_naive_writer_fails_the_job(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """A dependency cycle fails the job with an error showing the cycle instead of hanging."""
    marks = tmp_path / "marks"
    naive_job(
        base.path / "jobs",
        "cycle",
        [
            mark_task("x", marks, dependencies=["z"]),
            mark_task("y", marks, dependencies=["x"]),
            mark_task("z", marks, dependencies=["y"]),
            mark_task("outside", marks),
        ],
    )
    state = base.wait_state("cycle")
    assert state["state"] == "failed", manager.log()
    assert "cycle" in state["error"]
    tasks = {t["id"]: t for t in base.tasks("cycle")}
    assert all("cycle" in tasks[i]["error"] for i in "xyz")
    assert tasks["outside"]["status"] == "completed"
    assert not marks.exists() or set(read_intervals(marks)) == {"outside"}


def test_missing_command_fails_its_task_with_a_clear_error(base: Base, manager: ManagerProcess) -> None:
    """A command that does not exist fails with 'command not found' and the manager carries on."""
    base.submit("nocmd", [{"id": "ghost", "command": "no-such-command-xyz", "args": ["1"]}])
    state = base.wait_state("nocmd")
    assert state["state"] == "failed", manager.log()
    task = base.task("nocmd", "ghost")
    assert task["status"] == "failed"
    assert task["error"] == "command not found: no-such-command-xyz"
    assert task["result"] == "failed_to_start"
    base.submit("after", [{"id": "ok", "command": "true"}])
    assert base.wait_state("after")["state"] == "completed"
    assert manager.proc is not None and manager.proc.poll() is None


def test_non_zero_exit_records_exit_code_and_error(base: Base, manager: ManagerProcess) -> None:
    """Exit status 3 is recorded as exit_code 3 with an error that says so and shows the last output line."""
    base.submit(
        "exit3", [{"id": "t", "command": PY, "args": ["-c", "import sys; print('the last words'); sys.exit(3)"]}]
    )
    assert base.wait_state("exit3")["state"] == "failed", manager.log()
    task = base.task("exit3", "t")
    assert task["status"] == "failed" and task["result"] == "failed"
    assert task["exit_code"] == 3
    assert "exited with code 3" in task["error"] and "the last words" in task["error"]
    assert task["history"][-1]["exit_code"] == 3


def test_task_environment_has_its_context(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """The command sees AIR_EXECUTOR_BASE_PATH, AIR_EXECUTOR_JOB and AIR_EXECUTOR_TASK_ID."""
    out = tmp_path / "env.json"
    script = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"
    base.submit("ctx", [{"id": "who-am-i", "command": PY, "args": ["-c", script, str(out)]}])
    assert base.wait_state("ctx")["state"] == "completed", manager.log()
    env = json.loads(out.read_text())
    assert Path(env["AIR_EXECUTOR_BASE_PATH"]) == base.path.absolute()
    assert env["AIR_EXECUTOR_JOB"] == "ctx"
    assert env["AIR_EXECUTOR_TASK_ID"] == "who-am-i"


def test_commands_run_without_a_shell(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """Arguments with ';', '$HOME', '*', quotes and spaces reach the program literally."""
    out, victim = tmp_path / "argv.json", tmp_path / "victim"
    victim.write_text("keep me")
    tricky = [f"a; rm {victim}", "$HOME", "with  two spaces", "*", "`id`", "'quoted'", "$(touch x)", ""]
    script = "import json, sys; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))"
    base.submit("noshell", [{"id": "t", "command": PY, "args": ["-c", script, str(out), *tricky]}])
    assert base.wait_state("noshell")["state"] == "completed", manager.log()
    assert json.loads(out.read_text()) == tricky
    assert victim.read_text() == "keep me"


def test_stdout_and_stderr_land_in_the_task_log(base: Base, manager: ManagerProcess) -> None:
    """Both streams of the command are written to logs/<task-id>.log, in order."""
    script = "import sys; print('to stdout', flush=True); print('to stderr', file=sys.stderr, flush=True)"
    base.submit("streams", [{"id": "both", "command": PY, "args": ["-c", script]}])
    assert base.wait_state("streams")["state"] == "completed", manager.log()
    assert base.log("streams", "both").splitlines()[:2] == ["to stdout", "to stderr"]


def test_task_env_and_cwd_apply(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A task's `env` entries reach the command and `cwd` is its working directory."""
    workdir = writable_dir(tmp_path / "work dir")
    script = (
        "import json, os\n"
        "json.dump({'cwd': os.getcwd(), 'GREETING': os.environ.get('GREETING')}, open('out.json', 'w'))"
    )
    base.submit(
        "envcwd",
        [{"id": "t", "command": PY, "args": ["-c", script], "env": {"GREETING": "hello there"}, "cwd": str(workdir)}],
    )
    assert base.wait_state("envcwd")["state"] == "completed", manager.log()
    seen = json.loads((workdir / "out.json").read_text())
    assert seen == {"cwd": str(workdir), "GREETING": "hello there"}


def test_unusable_cwd_fails_the_task_clearly(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A working directory that does not exist fails the task with an error naming it."""
    missing = tmp_path / "nowhere"
    base.submit("badcwd", [{"id": "t", "command": "true", "cwd": str(missing)}])
    assert base.wait_state("badcwd")["state"] == "failed", manager.log()
    task = base.task("badcwd", "t")
    assert str(missing) in task["error"] and task["result"] == "failed_to_start"


def test_job_is_working_while_its_task_runs_then_completed(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """The job is working while its task runs and completed after; timestamps are ISO-8601 UTC."""
    gate = tmp_path / "gate"
    script = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)"
    base.submit("phases", [{"id": "t", "command": PY, "args": ["-c", script, str(gate)], "timeout": 60}])
    base.wait_state("phases", "working")
    assert base.task("phases", "t")["status"] == "running"
    gate.touch()
    state = base.wait_state("phases")
    assert state["state"] == "completed", manager.log()
    assert state["updated_at"].endswith("Z")
    assert parse_time(state["created_at"]) <= parse_time(state["updated_at"])


def test_processes_left_behind_by_a_finished_command_are_ended(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """A command that exits 0 but leaves a background child in its group: the task completes and the child is gone."""
    pids = tmp_path / "pids"
    base.submit("leftover", [{"id": "t", "command": "sh", "args": ["-c", f"sleep 100 & echo $! > {pids}"]}])
    assert base.wait_state("leftover")["state"] == "completed", manager.log()
    wait_for(lambda: read_pids(pids), what="the pid file")
    wait_for(lambda: not alive(read_pids(pids)[0]), timeout=10, what="the leftover child to be ended")
