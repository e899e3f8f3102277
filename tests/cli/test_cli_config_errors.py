"""A bad config makes every CLI command exit 1 with a single 'error:' line, and starts no manager."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Base, cli, error_line

BAD_FILES = [
    ("poll_interval: 0\n", "poll_interval must be between 1 and 60"),
    ("poll_interval: 61\n", "poll_interval must be between 1 and 60"),
    ("task_timeout: 59\n", "task_timeout must be between 60 and 7200"),
    ("task_timeout: 7201\n", "task_timeout must be between 60 and 7200"),
    ("max_concurrent_runners: 0\n", "max_concurrent_runners must be between 1 and 50"),
    ("max_concurrent_runners: 51\n", "max_concurrent_runners must be between 1 and 50"),
    ("log_format: xml\n", "log_format must be one of 'json', 'text'"),
    ("colour: blue\n", "unknown setting 'colour'"),
    ("poll_interval: [1\n", "is not valid YAML at line"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES, ids=[t.strip() for t, _ in BAD_FILES])
def test_status_with_a_bad_config_file(base: Base, text: str, expected: str) -> None:
    """`status` on a base whose config.yaml is bad: exit 1, one line naming the field and range."""
    (base.path / "config.yaml").write_text(text)
    line = error_line(cli("status", base=base))
    assert expected in line and str(base.path / "config.yaml") in line, line


def test_a_bad_environment_override(base: Base) -> None:
    """An out-of-range AIR_EXECUTOR_POLL_INTERVAL is refused in one line naming the variable."""
    line = error_line(cli("status", base=base, env={"AIR_EXECUTOR_POLL_INTERVAL": "0"}))
    assert "$AIR_EXECUTOR_POLL_INTERVAL" in line and "between 1 and 60" in line, line


def test_start_with_a_bad_config_starts_nothing(base: Base) -> None:
    """`start --config bad.yaml` exits 1 with one line, and no manager or PID file appears."""
    bad = base.path / "bad.yaml"
    bad.write_text("max_concurrent_runners: 51\n")
    line = error_line(cli("start", "--config", str(bad), base=base))
    assert "max_concurrent_runners must be between 1 and 50" in line
    assert not (base.path / "manager.pid").exists()
    assert "Manager: not running" in cli("status", base=base).stdout


def test_a_missing_config_file(base: Base, tmp_path: Path) -> None:
    """`--config` naming no file is refused in one line."""
    line = error_line(cli("status", "--config", str(tmp_path / "nope.yaml"), base=base))
    assert "nope.yaml does not exist" in line
