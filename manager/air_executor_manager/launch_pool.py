"""Slow launcher calls on worker threads, so one Docker call never holds up the manager's loop.

Creating and starting a container takes a few hundred milliseconds; done one after the
other in the loop they would cap throughput at a few tasks per second however many
runners are allowed. Workers only talk to the launcher: every change to job files stays
in the loop, which collects the outcomes through `finished()`.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from air_executor.errors import AirExecutorError

from air_executor_manager.launchers import Launcher, LaunchError, LaunchSpec

log = logging.getLogger("air_executor.manager")


class LaunchPool:
    def __init__(self, launcher: Launcher, workers: int, wake: Callable[[], None]) -> None:
        self.launcher = launcher
        self.wake = wake
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="launch")
        self.results: queue.SimpleQueue[tuple[LaunchSpec, str | LaunchError]] = queue.SimpleQueue()

    def launch(self, spec: LaunchSpec, before: Callable[[], None] | None = None) -> None:
        """Launch on a worker; `before` runs first there (the claim record is written, synced, then
        the runner started: one launch path for every launcher)."""
        self.executor.submit(self._launch, spec, before)

    def _launch(self, spec: LaunchSpec, before: Callable[[], None] | None) -> None:
        try:
            if before is not None:
                try:
                    before()
                except LaunchError:
                    raise
                except (OSError, AirExecutorError) as exc:
                    raise LaunchError(f"cannot record the claim: {getattr(exc, 'strerror', None) or exc}") from None
            outcome: str | LaunchError = self.launcher.launch(spec)
        except LaunchError as exc:
            outcome = exc
        except Exception as exc:  # an SDK surprise must still come back as a failed start
            outcome = LaunchError(f"the launcher failed: {exc}")
        self.results.put((spec, outcome))
        self.wake()

    def call(self, what: str, action: Callable[..., None], *args: object) -> None:
        """Any other slow launcher call (a container started ahead, one removed): logged if it fails."""
        self.executor.submit(self._call, what, action, *args)

    def _call(self, what: str, action: Callable[..., None], *args: object) -> None:
        try:
            action(*args)
        except Exception as exc:
            log.warning("cannot %s: %s", what, exc)

    def cleanup(self, runner_id: str | None, launch_id: str, lost: bool) -> None:
        self.executor.submit(self._cleanup, runner_id, launch_id, lost)

    def _cleanup(self, runner_id: str | None, launch_id: str, lost: bool) -> None:
        try:
            self.launcher.cleanup(runner_id, launch_id=launch_id, lost=lost)
        except Exception as exc:
            log.warning("cannot clean up runner %s: %s", runner_id, exc)

    def finished(self) -> list[tuple[LaunchSpec, str | LaunchError]]:
        done = []
        while True:
            try:
                done.append(self.results.get_nowait())
            except queue.Empty:
                return done

    def close(self) -> None:
        """Wait for launches in flight (their runners then exist and are adopted on restart)."""
        self.executor.shutdown(wait=True)
