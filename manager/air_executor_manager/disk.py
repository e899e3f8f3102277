"""Disk pressure: no new runners while the volume is nearly full (running ones go on).

A task that starts on a full volume cannot write its log or its outcome, and every job on the
volume suffers; so under `min_free_space_mb` the manager stops launching, says why (its log,
`<base>/manager.paused` for `status` and the health check, a metric), and starts again by itself
once space is back.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from air_executor.storage.manager_lock import PAUSED_FILE, write_small

log = logging.getLogger("air_executor.manager")

CHECK_EVERY = 1.0  # seconds between two looks at the free space


class DiskGuard:
    def __init__(self, base: Path, floor_mb: int) -> None:
        self.base = base
        self.floor = floor_mb * 2**20
        self.reason: str | None = None  # why launches are paused; None while they are not
        self._checked = 0.0

    def check(self) -> str | None:
        """Why launches are paused now, or None; statvfs at most once a second."""
        now = time.monotonic()
        if not self.floor or now - self._checked < CHECK_EVERY:
            return self.reason
        self._checked = now
        try:
            st = os.statvfs(self.base)
        except OSError:
            return self.reason
        free = st.f_bavail * st.f_frsize
        reason = None
        if free < self.floor:
            reason = (
                f"only {free / 2**20:.0f} MiB free on the volume at {self.base}, under min_free_space_mb "
                f"({self.floor // 2**20} MiB): no new runners until space is freed (running tasks go on)"
            )
        if (reason is None) != (self.reason is None):
            self._announce(reason)
        self.reason = reason
        return reason

    def _announce(self, reason: str | None) -> None:
        path = self.base / PAUSED_FILE
        if reason is not None:
            log.warning("launches paused: %s", reason)
            try:
                write_small(path, (reason + "\n").encode())
            except OSError:
                pass  # the volume is full: the log and the health check still say it
        else:
            log.info("launches resumed: free space on the volume is back over min_free_space_mb")
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def clear(self) -> None:
        """On the way out: a stopped manager pauses nothing."""
        if self.reason is not None:
            try:
                (self.base / PAUSED_FILE).unlink()
            except FileNotFoundError:
                pass
