"""`results` prints the seeds' report (Job Name, Final State, one block per task); exit 1 unless completed."""

from __future__ import annotations

from conftest import Base, ManagerProcess, cli, error_line


def _shown(stamp: str) -> str:
    """How the seed's report shows a task's time: `2025-10-02 07:30:16.123456`."""
    return stamp.replace("T", " ").removesuffix("Z")


def test_results_of_a_completed_job_match_the_seed_report(base: Base, manager: ManagerProcess) -> None:
    """A completed job's report is exactly the seed's layout (airflow-integration.md), and exit 0."""
    base.submit(
        "greeting",
        [
            {"id": "greet", "command": "echo", "args": ["Hello", "World"]},
            {"id": "wave", "command": "echo", "args": ["bye"], "dependencies": ["greet"]},
        ],
    )
    assert base.wait_state("greeting")["state"] == "completed"
    result = cli("results", "--job", "greeting", base=base)
    assert result.returncode == 0, result.stderr
    state, (greet, wave) = base.state("greeting"), base.tasks("greeting")
    rule, thin = "=" * 62, "-" * 62
    expected = [
        rule,
        "🎉 Air-Executor Job Results",
        rule,
        "Job Name: greeting",
        "Final State: completed",
        f"Created: {state['created_at']}",
        f"Updated: {state['updated_at']}",
        "",
        "Task Execution Details:",
        thin,
        "✅ greet: completed",
        "   Command: echo Hello World",
        f"   Started: {_shown(greet['started_at'])}",
        f"   Completed: {_shown(greet['completed_at'])}",
        "",
        "✅ wave: completed",
        "   Command: echo bye",
        f"   Started: {_shown(wave['started_at'])}",
        f"   Completed: {_shown(wave['completed_at'])}",
        "",
        rule,
    ]
    assert result.stdout.splitlines() == expected


def test_results_of_a_failed_job(base: Base, manager: ManagerProcess) -> None:
    """A failed job's report shows the failure and the skipped task with their errors, and exits 1."""
    base.submit(
        "broken",
        [
            {"id": "boom", "command": "sh", "args": ["-c", "echo went wrong >&2; exit 4"]},
            {"id": "never", "command": "echo", "dependencies": ["boom"]},
        ],
    )
    assert base.wait_state("broken")["state"] == "failed"
    result = cli("results", "--job", "broken", base=base)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "Final State: failed" in lines and "❌ boom: failed" in lines
    assert "Error: task 'boom' failed: sh exited with code 4: went wrong" in lines
    assert "   Error: dependency 'boom' failed" in lines
    assert any(line.endswith("never: skipped") for line in lines)


def test_results_of_an_unknown_job(base: Base) -> None:
    """results for a job that does not exist: exit 1, one line."""
    assert "job 'ghost' not found" in error_line(cli("results", "--job", "ghost", base=base))


def test_results_of_an_unfinished_job_is_refused(base: Base) -> None:
    """results on a job that has not finished: exit 1, one line saying where to see its progress; no report."""
    base.submit("pending-job", [{"command": "echo"}])
    result = cli("results", "--job", "pending-job", base=base)
    assert error_line(result) == (
        "error: job pending-job is waiting; its results are ready once it has finished "
        "(progress: air-executor status --job pending-job)"
    )
    assert result.stdout == ""
