"""Files the manager keeps beside the job folders (storage/manager_lock.py)."""

from __future__ import annotations

from pathlib import Path


def test_small_files_beside_the_jobs_are_never_written_through_a_planted_link(tmp_path: Path) -> None:
    """manager.pools, manager.paused, manager.active, format and schedule files go through write_small: a
    link at the file's name or at its temporary name is replaced, what it points at is left alone."""
    import os

    from air_executor.storage.manager_lock import write_small

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "manager.pools"
    target.symlink_to(victim)
    (tmp_path / f".manager.pools.{os.getpid()}.tmp").symlink_to(victim)
    write_small(target, b'{"gpu": {"size": 1, "used": 0}}', durable=True)
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink() and target.read_text() == '{"gpu": {"size": 1, "used": 0}}'
    assert not (tmp_path / f".manager.pools.{os.getpid()}.tmp").exists()
