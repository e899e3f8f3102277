"""The benchmark's outputs: a rich table, JSON under bench/results/, one PNG chart."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    import os

    import psutil

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} {unit}"


def table(rows: list[dict[str, Any]]) -> Table:
    t = Table(title="Air-Executor benchmark (each figure next to its raw baseline, same run)")
    for column in ("figure", "ours", "baseline", "ratio", "target", "met"):
        t.add_column(column, justify="left" if column in ("figure", "target") else "right")
    for row in rows:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[row["met"]]
        ratio = f"{row['ratio']:.2f}" if row.get("ratio") is not None else "-"
        t.add_row(
            row["figure"],
            _fmt(row["value"], row["unit"]),
            _fmt(row["baseline"], row["unit"]),
            ratio,
            row["target"],
            met,
        )
    return t


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| figure | ours | baseline | ratio | target | met |", "| --- | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if row.get("ratio") is not None else "-"
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(
            f"| {row['figure']} | {_fmt(row['value'], row['unit'])} | {_fmt(row['baseline'], row['unit'])}"
            f" | {ratio} | {row['target']} | {met} |"
        )
    return "\n".join(lines)


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    """One PNG: each figure's ratio to its baseline (1.0 = as fast/light as the raw baseline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.get("ratio") is not None]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(shown) + 1.5))
    colours = ["tab:green" if r["met"] else "tab:red" if r["met"] is False else "tab:blue" for r in shown]
    ax.barh([r["figure"] for r in shown], [r["ratio"] for r in shown], color=colours)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("ratio to the raw baseline measured in the same run (green: target met, red: missed)")
    ax.set_title("Air-Executor vs raw baselines")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(rows: list[dict[str, Any]], settings: dict[str, Any], out: Path = RESULTS) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"machine": machine(), "settings": settings, "figures": rows}
    (out / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "latest.md").write_text(markdown(rows) + "\n")
    chart(rows, out / "latest.png")
    Console(width=140).print(table(rows))
    return out / "latest.json"
