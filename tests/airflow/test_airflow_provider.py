"""The provider as Airflow sees it: entry point, provider info, and the providers manager's registries."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import distribution, entry_points
from pathlib import Path

import airflow_kit  # noqa: F401  (Airflow's settings first)
import jsonschema
import pytest
from air_executor.airflow import get_provider_info

MODULES = {
    "air_executor.airflow.hooks.air_executor": "AirExecutorHook",
    "air_executor.airflow.operators.air_executor": "AirExecutorOperator",
    "air_executor.airflow.sensors.air_executor": "AirExecutorSensor",
    "air_executor.airflow.triggers.air_executor": "AirExecutorJobTrigger",
}


def test_entry_point_names_get_provider_info() -> None:
    ours = [ep for ep in entry_points(group="apache_airflow_provider") if ep.dist and ep.dist.name == "air-executor"]
    assert [(ep.name, ep.value) for ep in ours] == [("provider_info", "air_executor.airflow:get_provider_info")]
    assert ours[0].load() is get_provider_info


def test_provider_info_is_valid_for_airflow() -> None:
    import airflow

    info = get_provider_info()
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    assert info["package-name"] == distribution("air-executor").metadata["Name"]
    assert info["versions"] == [distribution("air-executor").version]
    assert info["name"] == "Air-Executor"
    for kind, folder in (
        ("hooks", "hooks"),
        ("operators", "operators"),
        ("sensors", "sensors"),
        ("triggers", "triggers"),
    ):
        assert info[kind] == [
            {"integration-name": "Air-Executor", "python-modules": [f"air_executor.airflow.{folder}.air_executor"]}
        ]
    assert info["connection-types"] == [
        {
            "hook-class-name": "air_executor.airflow.hooks.air_executor.AirExecutorHook",
            "connection-type": "air_executor",
            "hook-name": "Air-Executor",
        }
    ]


@pytest.mark.parametrize("module, name", sorted(MODULES.items()))
def test_listed_modules_hold_their_classes(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)


def test_providers_manager_registers_the_provider_hook_and_trigger() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    provider = manager.providers["air-executor"]
    assert provider.version == "0.1.0"
    assert provider.data["name"] == "Air-Executor"
    hook = ProvidersManagerTaskRuntime().hooks["air_executor"]  # hooks are the task runtime's since Airflow 3.2
    assert hook is not None
    assert hook.hook_class_name == "air_executor.airflow.hooks.air_executor.AirExecutorHook"
    assert hook.connection_id_attribute_name == "air_executor_conn_id"
    assert any(t.package_name == "air-executor" for t in manager.trigger), manager.trigger
