"""The runner starts once per task, so its import path stays small (README "Architecture")."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

HEAVY = [
    "re",
    "enum",
    "json",
    "typing",
    "pathlib",
    "datetime",
    "subprocess",
    "contextlib",
    "pydantic",
    "yaml",
    "click",
    "rich",
    "docker",
    "psutil",
    "signal",
]


def test_runner_imports_no_heavy_module() -> None:
    """Importing the runner (without site, as a lean image would) pulls in none of the heavy modules."""
    probe = (
        "import sys; sys.path[:0] = sys.argv[1:3]; import air_executor_runner.__main__, air_executor_runner.execute; "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(REPO / "shared"), str(REPO / "runner")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""
