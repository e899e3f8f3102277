"""A config.yaml broken while a manager runs: stop, status, logs, results and cancel still work, warning once."""

from __future__ import annotations

from pathlib import Path

from conftest import Base, ManagerProcess, cli, error_line, gated_task, wait_for

BAD = "max_concurrent_runners: 200\n"


def _warning(stderr: str, base: Base) -> None:
    assert stderr.splitlines() == [
        f"warning: config {base.path / 'config.yaml'}: max_concurrent_runners must be a whole number between 1 and 50,"
        " got 200 (ignored: this command uses the default)"
    ], stderr


def test_an_operator_can_look_and_stop_with_a_broken_config(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """With an invalid config written after the manager started, every look-and-stop command works."""
    base.submit("done", [{"id": "hello", "command": "echo", "args": ["hi"]}])
    assert base.wait_state("done")["state"] == "completed"
    gate = tmp_path / "gate"
    base.submit("busy", [gated_task("hold", gate)])
    wait_for(lambda: base.log("busy", "hold") == "before\n", what="the task to start")
    (base.path / "config.yaml").write_text(BAD)

    status = cli("status", base=base)
    assert status.returncode == 0 and "busy" in status.stdout and "done" in status.stdout, status.stdout
    _warning(status.stderr, base)
    logs = cli("logs", "--job", "done", base=base)
    assert (logs.returncode, logs.stdout.splitlines()[-1]) == (0, "hi")
    _warning(logs.stderr, base)
    results = cli("results", "--job", "done", base=base)
    assert results.returncode == 0 and "Final State: completed" in results.stdout
    _warning(results.stderr, base)
    cancel = cli("cancel", "--job", "busy", base=base)
    assert cancel.returncode == 0, cancel.stderr
    _warning(cancel.stderr, base)

    assert manager.proc is not None
    stop = cli("stop", base=base)
    assert stop.returncode == 0 and stop.stdout.endswith("Job manager stopped\n"), (stop.stdout, stop.stderr)
    _warning(stop.stderr, base)
    assert manager.proc.wait(timeout=60) == 0  # it released its lock first, then exits


def test_start_and_submit_still_refuse_a_broken_config(base: Base, tmp_path: Path) -> None:
    """What would act on the broken value (start, submit) refuses it in one error line."""
    (base.path / "config.yaml").write_text(BAD)
    assert "max_concurrent_runners must be" in error_line(cli("start", base=base))
    job = tmp_path / "j.yaml"
    job.write_text("name: j\ntasks: [{command: echo}]\n")
    assert "max_concurrent_runners must be" in error_line(cli("submit", str(job), base=base))


def test_an_unreadable_config_file_falls_back_to_defaults_for_status(base: Base) -> None:
    """A config.yaml that is not even YAML: status says so once and shows the base folder it looked at."""
    (base.path / "config.yaml").write_text("poll_interval: [1\n")
    result = cli("status", base=base)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: config ") and "is not valid YAML" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert f"base {base.path}" in result.stdout
