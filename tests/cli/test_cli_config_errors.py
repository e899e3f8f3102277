"""A bad config makes every command that acts on it exit 1 with a single 'error:' line, and starts no manager.

(The commands that only look or stop, like `status`, warn instead: tests/cli/test_cli_broken_config.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Base, cli, error_line

JOB = "name: j\ntasks: [{command: echo}]\n"


def submit(base: Base, *args: str, **env: str) -> str:
    """`submit -` of a good job under the given config: the one error line it prints."""
    line = error_line(cli("submit", *args, "-", base=base, input=JOB, env=env))
    assert not (base.path / "jobs" / "j").exists()
    return line


BAD_FILES = [
    ("poll_interval: 0\n", "poll_interval must be a number of seconds between 1 and 60"),
    ("poll_interval: 61\n", "poll_interval must be a number of seconds between 1 and 60"),
    ("task_timeout: 59\n", "task_timeout must be a whole number of seconds between 60 and 7200"),
    ("task_timeout: 7201\n", "task_timeout must be a whole number of seconds between 60 and 7200"),
    ("max_concurrent_runners: 0\n", "max_concurrent_runners must be a whole number between 1 and 50"),
    ("max_concurrent_runners: 51\n", "max_concurrent_runners must be a whole number between 1 and 50"),
    ("log_format: xml\n", "log_format must be one of 'json', 'text'"),
    ("colour: blue\n", "unknown setting 'colour'"),
    ("poll_interval: [1\n", "is not valid YAML at line"),
    # Each names the rule it broke in words, never pydantic's phrasing or another setting's rule.
    ("poll_interval: [1, 2]\n", "poll_interval must be a number of seconds between 1 and 60, got [1, 2]"),
    ('runner_user: "0:0"\n', "runner_user must be a uid or uid:gid with a uid other than 0"),
    ("runner_cpus: 0\n", "runner_cpus must be a number of CPUs above 0 and at most 256, or null, got 0"),
    ('runner_memory: "1 GB"\n', "runner_memory must be a size such as '512m' or '2g'"),
    ("log_level: LOUD\n", "log_level must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL', got 'LOUD'"),
    ("container_options: {shm_sz: 1g}\n", "container_options: unknown option 'shm_sz' (known: shm_size, devices"),
    ("container_options: {gpus: some}\n", "container_options.gpus must be 'all' or a whole number of GPUs"),
    ("container_options: 3\n", "container_options must be a mapping of container options, got 3"),
    (
        "container_options: {mounts: [{source: /x, target: rel}]}\n",
        "container_options.mounts.target must be an absolute path in the container, got 'rel'",
    ),
    (
        "container_options: {mounts: [{source: /x, target: /y, mode: rw}]}\n",
        "container_options.mounts: unknown option 'mode' (known: source, target, type, read_only)",
    ),
    ("swarm: {volume: 'a/b'}\n", "swarm.volume must be a volume name (letters, digits, '_', '.', '-'), or null"),
    ("swarm: {constraints: [gpu]}\n", "swarm.constraints must be a list of Swarm constraints such as 'node.role=="),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES, ids=[t.strip() for t, _ in BAD_FILES])
def test_submit_with_a_bad_config_file(base: Base, text: str, expected: str) -> None:
    """`submit` on a base whose config.yaml is bad: exit 1, one line naming the setting, its rule and the value."""
    (base.path / "config.yaml").write_text(text)
    line = submit(base)
    assert expected in line and str(base.path / "config.yaml") in line, line
    assert "should" not in line and "Input" not in line, line  # pydantic's own phrasing stays inside


def test_a_bad_environment_override(base: Base) -> None:
    """An out-of-range AIR_EXECUTOR_POLL_INTERVAL is refused in one line naming the variable."""
    line = submit(base, AIR_EXECUTOR_POLL_INTERVAL="0")
    assert "$AIR_EXECUTOR_POLL_INTERVAL" in line and "between 1 and 60" in line, line


def test_start_with_a_bad_config_starts_nothing(base: Base) -> None:
    """`start --config bad.yaml` exits 1 with one line, and no manager or PID file appears."""
    bad = base.path / "bad.yaml"
    bad.write_text("max_concurrent_runners: 51\n")
    line = error_line(cli("start", "--config", str(bad), base=base))
    assert "max_concurrent_runners must be a whole number between 1 and 50" in line
    assert not (base.path / "manager.pid").exists()
    assert "Manager: not running" in cli("status", base=base).stdout


def test_a_missing_config_file(base: Base, tmp_path: Path) -> None:
    """`--config` naming no file is refused in one line."""
    line = submit(base, "--config", str(tmp_path / "nope.yaml"))
    assert "nope.yaml does not exist" in line
