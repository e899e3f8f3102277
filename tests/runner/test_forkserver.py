"""The fork server on its own (`python -m air_executor_runner.forkserver`), spoken to as the manager does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import IO, Any

import pytest
from conftest import Base, wait_for
from test_runner_module import LAUNCH, claimed, prepare


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "air_executor_runner.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def send(self, line: bytes) -> dict[str, Any]:
        self.stdin.write(line + b"\n")
        self.stdin.flush()
        return self.read()

    def read(self) -> dict[str, Any]:
        return json.loads(self.stdout.readline())


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    assert s.read()["ready"] is True
    yield s
    s.proc.kill()
    s.proc.wait()


def test_it_forks_one_runner_per_request_and_says_when_it_ends(base: Base, server: Server) -> None:
    prepare(base, claimed("t", "sh", "-c", "echo $GIVEN; cat /proc/$PPID/cmdline | tr '\\0' ' '"))
    args = [str(base.path), "job", "t", LAUNCH]
    reply = server.send(json.dumps({"args": args, "env": {**os.environ, "GIVEN": "from the request"}}).encode())
    pid = reply["pid"]
    assert pid != server.proc.pid
    assert server.read() == {"exit": pid, "code": 0}
    assert base.task("job", "t")["result"] == "success"
    first, title = base.log("job", "t").splitlines()
    assert first == "from the request"
    assert title.strip() == f"{sys.executable} -m air_executor_runner {' '.join(args)}"


@pytest.mark.parametrize(
    "line",
    [  # not JSON, no fields, too few args, an empty arg, a value that is not a string
        b"not json",
        b"{}",
        b'{"args": ["a"], "env": {}}',
        b'{"args": ["a", "b", "c", ""], "env": {}}',
        b'{"args": ["a", "b", "c", "d"], "env": {"x": 1}}',
    ],
)
def test_a_bad_request_gets_an_error_and_the_server_goes_on(base: Base, server: Server, line: bytes) -> None:
    assert server.send(line)["error"].startswith("bad request")
    prepare(base, claimed("t", "true"))
    reply = server.send(json.dumps({"args": [str(base.path), "job", "t", LAUNCH], "env": dict(os.environ)}).encode())
    assert server.read() == {"exit": reply["pid"], "code": 0}


def test_a_runner_that_cannot_run_reports_its_exit_code(base: Base, server: Server) -> None:
    """A job that does not exist: the runner exits 4 (EXIT_UNRECORDED), as a cold one does."""
    reply = server.send(json.dumps({"args": [str(base.path), "nope", "t", LAUNCH], "env": dict(os.environ)}).encode())
    assert server.read() == {"exit": reply["pid"], "code": 4}


def test_closing_its_input_ends_it_but_not_its_runners(base: Base, server: Server) -> None:
    prepare(base, claimed("t", "sh", "-c", "sleep 1; echo done"))
    reply = server.send(json.dumps({"args": [str(base.path), "job", "t", LAUNCH], "env": dict(os.environ)}).encode())
    server.stdin.close()
    assert server.proc.wait(timeout=10) == 0
    wait_for(lambda: base.task("job", "t")["status"] == "completed", what="the orphaned runner to finish its task")
    assert base.log("job", "t") == "done\n"
    assert reply["pid"] > 0
