"""A real `air-executor dashboard` process on a test's base folder, and small HTTP helpers.

Nothing is mocked: the dashboard reads the files a real manager and real runners write.
Deadlines only stop a hung test; no test asserts speed (bench/dashboard.py measures it).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import CLI, Base, wait_for
from containers.conftest import docker_client  # noqa: F401  (for the compose test: the engine and images)
from taskkit import free_port

TOKEN = "test-token-0123456789abcdef"


class Reply:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


class DashboardProcess:
    """`air-executor dashboard --port N` on a base folder, stopped at the end of the test."""

    def __init__(self, base: Base, token: str | None = None) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)}
        env.pop("AIR_EXECUTOR_DASHBOARD_TOKEN", None)
        if token is not None:
            env["AIR_EXECUTOR_DASHBOARD_TOKEN"] = token
        self.log_path = base.path.parent / f"dashboard-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [CLI, "dashboard", "--port", str(self.port)], stdout=log, stderr=log, env=env, start_new_session=True
            )
        wait_for(self._indexed, what=f"the dashboard to answer on {self.url}")

    def _indexed(self) -> bool:
        assert self.proc.poll() is None, self.log()
        try:
            return bool(self.get("/healthz").json()["indexed"])
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
        req = urllib.request.Request(self.url + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as reply:
                return Reply(reply.status, reply.headers, reply.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.headers, exc.read())

    def get(self, path: str, **headers: str) -> Reply:
        return self.request(path, headers=headers)

    def post(self, path: str, token: str | None = None) -> Reply:
        return self.request(path, "POST", {"Authorization": f"Bearer {token}"} if token is not None else {})

    def events(self, path: str, until: Callable[[str, Any], bool], timeout: float = 30) -> list[tuple[str, Any]]:
        """Read server-sent events from `path` until `until(kind, data)` holds; every event seen."""
        seen: list[tuple[str, Any]] = []
        with urllib.request.urlopen(self.url + path, timeout=timeout) as stream:
            deadline = time.monotonic() + timeout
            kind = "message"
            while time.monotonic() < deadline:
                line = stream.readline().decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    seen.append((kind, data))
                    if until(kind, data):
                        return seen
        pytest.fail(f"no such event from {path} within {timeout} s; saw {seen[-5:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def dashboard(base: Base) -> Iterator[DashboardProcess]:
    """A dashboard with actions off (no token configured)."""
    d = DashboardProcess(base)
    yield d
    d.stop()


@pytest.fixture
def dashboard_with_token(base: Base) -> Iterator[DashboardProcess]:
    """A dashboard whose actions need TOKEN."""
    d = DashboardProcess(base, TOKEN)
    yield d
    d.stop()
