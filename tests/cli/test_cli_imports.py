"""`--version` and `add-task` import only what they use: no click, rich, pydantic or PyYAML on their path.

Tasks call `add-task` once per subtask, so its start-up is paid per file of a loop; the
benchmark (bench/cli_cost.py) measures it, this pins why it is fast. Speed itself is not
asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import Base

HEAVY = ("click", "rich", "pydantic", "yaml")
PROBE = f"""
import json, sys
from air_executor.cli.app import main
code = main(sys.argv[1:])
print(json.dumps({{"code": code, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _run(base: Base, *args: str, cwd: Path | None = None) -> dict[str, object]:
    env = {"AIR_EXECUTOR_BASE_PATH": str(base.path), "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return {**json.loads(result.stdout.splitlines()[-1]), "stderr": result.stderr}


def test_version_and_add_task_load_nothing_heavy(base: Base) -> None:
    """With a config.yaml that does not set the guardrails, add-task queues its task on the standard library."""
    base.submit("loop", [{"id": "discover", "command": "true"}])
    assert "max_tasks" not in (base.path / "config.yaml").read_text()
    assert _run(base, "--version") == {"code": 0, "loaded": [], "stderr": ""}
    outcome = _run(base, "add-task", "--job", "loop", "--id", "load-a", "--retries", "2", "echo", "a")
    assert outcome == {"code": 0, "loaded": [], "stderr": ""}
    added = base.task("loop", "load-a")
    assert (added["args"], added["retries"], added["status"]) == (["a"], 2, "pending")


def test_add_task_validates_guardrails_the_config_sets(base: Base) -> None:
    """A config.yaml that sets max_tasks_per_job is read and checked (the full path), and the limit holds."""
    base.submit("capped", [{"id": "first", "command": "true"}])
    base.config(max_tasks_per_job=1)
    outcome = _run(base, "add-task", "--job", "capped", "echo")
    assert outcome["code"] == 1 and "yaml" in outcome["loaded"]  # type: ignore[operator]
    assert "job 'capped' already has 1 tasks, its limit" in str(outcome["stderr"])
    base.config(max_tasks_per_job=0)
    outcome = _run(base, "add-task", "--job", "capped", "echo")
    assert outcome["code"] == 1
    assert (
        f"config {base.path / 'config.yaml'}: max_tasks_per_job must be a whole number between 1 and 100000, got 0"
        in str(outcome["stderr"])
    )
    assert [t["id"] for t in base.tasks("capped")] == ["first"]
