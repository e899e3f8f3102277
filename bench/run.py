"""`make bench`: dispatch latency (subprocess, Docker, Swarm), throughput, runner cost, scale, idle cost,
CLI and dashboard, each against a raw baseline measured in the same run. Writes bench/results/latest.{json,md,png}.

`python bench/run.py --quick` runs every figure with small counts (a smoke run, not a measurement).
`--only airflow` (`make bench-airflow`) adds the chains beside Apache Airflow 3 (bench/airflow_side_by_side.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import airflow_side_by_side  # noqa: E402
import cli_cost  # noqa: E402
import dashboard  # noqa: E402
import dispatch  # noqa: E402
import idle  # noqa: E402
import large  # noqa: E402
import report  # noqa: E402
import runner_cost  # noqa: E402
import scale  # noqa: E402
import swarm  # noqa: E402
import throughput  # noqa: E402

FULL = {
    "latency": 100,
    "docker_latency": 100,
    "swarm_latency": 30,
    "throughput": (50, 10),
    "docker_throughput": (10, 10),
    "concurrency": 10,
    "runner_cost": 50,
    "scale": [100, 1000, 10000],
    "idle": 60.0,
    "cli": 30,
    "waiter": (100000, 20.0),
    "dashboard": 10000,
    "large": {"sizes": (100, 10000), "build": (1000, 10000), "many": (1000, 100, 20), "fair": (5000, 10)},
    "airflow": {"runs": 4, "docker_runs": 3},
}
QUICK = {
    "latency": 5,
    "docker_latency": 3,
    "swarm_latency": 2,
    "throughput": (3, 3),
    "docker_throughput": (2, 2),
    "concurrency": 3,
    "runner_cost": 5,
    "scale": [10, 30],
    "idle": 2.0,
    "cli": 5,
    "waiter": (2000, 2.0),
    "dashboard": 200,
    "large": {"sizes": (20, 100), "build": (20, 200), "many": (20, 10, 3), "fair": (100, 3)},
    "airflow": {"runs": 1, "docker_runs": 1},
}


GROUPS = ["dispatch", "swarm", "throughput", "runner", "scale", "large", "idle", "cli", "dashboard"]
OPTIONAL = ["airflow"]  # `make bench-airflow`: installs Airflow into its own venv first


def docker_image() -> str | None:
    """The runner image if a Docker engine answers and the image exists (make images)."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
        client.images.get("air-executor-runner:latest")
        return "air-executor-runner:latest"
    except Exception as exc:  # no SDK, no engine, no image: the Docker figures are left out
        print(f"bench: Docker figures skipped ({exc})", file=sys.stderr)
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: checks the benchmark runs")
    parser.add_argument("--only", choices=GROUPS + OPTIONAL, action="append")
    parser.add_argument("--out", type=Path, default=report.RESULTS, help="folder for latest.{json,md,png}")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    wanted = set(args.only or GROUPS)
    image = docker_image() if wanted & {"dispatch", "swarm", "throughput", "airflow"} else None  # only these use Docker
    rows: list[dict[str, Any]] = []
    if "dispatch" in wanted:
        rows += dispatch.run(settings["latency"], settings["docker_latency"], image)
    if "swarm" in wanted:
        rows += swarm.run(settings["swarm_latency"], image)
    if "throughput" in wanted:
        rows += throughput.run(settings["throughput"], settings["docker_throughput"], settings["concurrency"], image)
    if "runner" in wanted:
        rows += runner_cost.run(settings["runner_cost"])
    if "scale" in wanted:
        rows += scale.run(settings["scale"])
    if "large" in wanted:
        rows += large.run(settings["large"])
    if "idle" in wanted:
        rows += idle.run(settings["idle"])
    if "cli" in wanted:
        rows += cli_cost.run(settings["cli"])
        rows += cli_cost.waiter(*settings["waiter"])
    if "dashboard" in wanted:
        rows += dashboard.run(settings["dashboard"])
    if "airflow" in wanted:
        rows += airflow_side_by_side.run(settings["airflow"], image)
    print(f"results: {report.save(rows, {**settings, 'docker': bool(image)}, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
