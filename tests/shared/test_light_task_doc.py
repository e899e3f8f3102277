"""The light path for new tasks (no pydantic) writes what the Task model writes, and only what it accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from air_executor.client import light_task_doc
from air_executor.core.task import Task
from air_executor.errors import InvalidJob

BASE = {"id": "t", "job_name": "j", "command": "echo", "status": "pending"}

# Specs the light path must take itself (what add-task and TaskQueue.add usually send).
SIMPLE = [
    {},
    {"args": ["a", "b c"], "dependencies": ["x"]},
    {"timeout": 1, "retries": 100, "retry_delay": 0},
    {"timeout": 86_400, "retries": 1, "retry_delay": 2.5},
    {"env": {"A": "1"}, "cwd": "rel", "submit_dir": "/abs", "image": "img:1", "dedup_key": "k"},
    {"timeout": None, "image": None},
]
# Specs at or past an edge: the light path may pass them to the model, never accept what it refuses.
EDGES = [
    {"timeout": 0},
    {"timeout": 86_401},
    {"timeout": True},
    {"timeout": 1.5},
    {"retries": 0},
    {"retries": 101},
    {"retries": -1},
    {"retry_delay": -0.1},
    {"retry_delay": 86_400.5},
    {"args": [1]},
    {"args": [True]},
    {"args": "a b"},
    {"args": [None]},
    {"dependencies": [1]},
    {"env": {}},
    {"env": {"A": 1}},
    {"env": {1: "a"}},
    {"submit_dir": "rel"},
    {"command": " "},
    {"command": ""},
    {"command": 5},
    {"id": "a/b"},
    {"id": ""},
    {"status": "running"},
    {"retry_backoff": 2},
    {"memory": "1g"},
    {"unknown_field": 1},
    {"args": [Path("/p")]},
]


def _model(doc: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return Task.parse(doc).to_dict()
    except InvalidJob:
        return None


@pytest.mark.parametrize("extra", SIMPLE, ids=[str(sorted(e)) for e in SIMPLE])
def test_simple_specs_take_the_light_path_and_match_the_model(extra: dict[str, Any]) -> None:
    """The light document is the model's document, field for field and in the same order."""
    doc = {**BASE, **extra}
    light = light_task_doc(doc)
    assert light is not None
    model = _model(doc)
    assert model is not None
    model["created_at"] = light["created_at"]
    assert list(light.items()) == list(model.items())


@pytest.mark.parametrize("extra", EDGES, ids=[repr(e) for e in EDGES])
def test_the_light_path_never_accepts_what_the_model_refuses(extra: dict[str, Any]) -> None:
    """At every edge: either the light path steps aside, or it agrees with the model exactly."""
    doc = {**BASE, **extra}
    light, model = light_task_doc(doc), _model(doc)
    if light is not None:
        assert model is not None, doc
        model["created_at"] = light["created_at"]
        assert list(light.items()) == list(model.items())
