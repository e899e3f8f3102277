"""The Apache Airflow provider for Air-Executor (install the `air-executor[airflow]` extra).

Airflow finds it through the `apache_airflow_provider` entry point, which names
`get_provider_info` below. The folders follow Airflow's providers: `hooks/`,
`operators/`, `sensors/`, `triggers/`. Importing this package imports nothing
from Airflow; the modules in those folders do.
"""

from __future__ import annotations

from typing import Any

from air_executor import __version__

PACKAGE = "air_executor.airflow"
INTEGRATION = "Air-Executor"


def get_provider_info() -> dict[str, Any]:
    """What Airflow's providers manager reads about this provider (a plain dict, as providers return)."""
    return {
        "package-name": "air-executor",
        "name": INTEGRATION,
        "description": "Create Air-Executor jobs from Airflow, wait for them without holding a worker slot, "
        "and read their results.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": INTEGRATION, "tags": ["software"]},
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.hooks.air_executor"]}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.operators.air_executor"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.sensors.air_executor"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.triggers.air_executor"]}],
        "connection-types": [
            {
                "hook-class-name": f"{PACKAGE}.hooks.air_executor.AirExecutorHook",
                "connection-type": "air_executor",
                "hook-name": INTEGRATION,
            }
        ],
    }
