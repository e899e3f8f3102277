"""Dependency checks on a job's tasks: unknown ids and cycles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def unknown_dependencies(tasks: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """`{task id: first dependency id that names no task}`."""
    known = {t.get("id") for t in tasks}
    missing: dict[str, str] = {}
    for task in tasks:
        for dep in _deps(task):
            if dep not in known:
                missing[str(task.get("id"))] = str(dep)
                break
    return missing


def find_cycle(tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """One dependency cycle as `[a, b, ..., a]`, or `[]` (iterative DFS, no recursion limit)."""
    edges = {str(t.get("id")): [str(d) for d in _deps(t)] for t in tasks}
    colour: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in edges:
        if colour.get(root):
            continue
        path: list[str] = [root]
        stack = [iter(edges[root])]
        colour[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = 2
                stack.pop()
            elif nxt in edges and colour.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif nxt in edges and not colour.get(nxt):
                colour[nxt] = 1
                path.append(nxt)
                stack.append(iter(edges[nxt]))
    return []


def cycle_members(tasks: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """`{task id: the cycle it is on}` for every task on some cycle."""
    remaining = list(tasks)
    members: dict[str, list[str]] = {}
    while True:
        cycle = find_cycle(remaining)
        if not cycle:
            return members
        for task_id in cycle[:-1]:
            members[task_id] = cycle
        on_cycle = set(cycle)
        remaining = [t for t in remaining if t.get("id") not in on_cycle]


def _deps(task: Mapping[str, Any]) -> list[Any]:
    deps = task.get("dependencies") or []
    return deps if isinstance(deps, list) else []
