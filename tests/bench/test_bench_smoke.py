"""The benchmark itself runs end to end (tiny counts): a smoke test, not a measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


@pytest.mark.docker
@pytest.mark.slow
def test_quick_benchmark_writes_every_figure(tmp_path: Path) -> None:
    """`bench/run.py --quick` measures every figure with its baseline and writes JSON, Markdown and a PNG."""
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads((tmp_path / "latest.json").read_text())
    figures = {row["figure"] for row in doc["figures"]}
    for expected in (
        "dispatch latency p50, subprocess (warm)",
        "dispatch latency p50, subprocess (cold)",
        "chain of 5: median gap between starts, subprocess (warm)",
        "dispatch latency p50, docker",
        "dispatch latency p50, swarm",
        "runner per task, wall (warm)",
        "runner per task, wall (cold)",
        "runner per task, peak memory (cold)",
        "idle manager memory",
    ):
        assert expected in figures, figures
    assert any(f.startswith("throughput, docker") for f in figures)
    assert any(f.startswith("manager poll, 30 finished") for f in figures)
    assert any(f.startswith("CLI `submit --wait` waiting on a") for f in figures)
    for row in doc["figures"]:
        assert row["value"] is not None and row["baseline"] is not None, row
    assert (tmp_path / "latest.png").read_bytes()[:4] == b"\x89PNG"
    assert "| figure |" in (tmp_path / "latest.md").read_text()


@pytest.mark.docker
@pytest.mark.slow
def test_airflow_side_by_side_runs_both_chains_on_a_real_airflow(tmp_path: Path) -> None:
    """`make bench-airflow`'s group: installs Airflow 3 into its own venv if needed, runs its BashOperator and
    DockerOperator chains and ours in the same run, and writes both rows with their figures."""
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "airflow", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["figure"]: row for row in json.loads((tmp_path / "latest.json").read_text())["figures"]}
    for name in (
        "chain of 5: median gap, subprocess (warm) beside Airflow 3 BashOperator",
        "chain of 6: median gap, docker (warm) beside Airflow 3 DockerOperator",
    ):
        row = rows[name]
        # Airflow's gaps include its scheduler's loop: hundreds of milliseconds at the very least.
        assert row["value"] > 0 and row["baseline"] > 0.1, row
