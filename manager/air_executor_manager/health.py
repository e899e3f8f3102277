"""A tiny health endpoint for the manager container: 200 while a manager holds the base folder and
its loop goes round (its heartbeat is younger than `health_stale_after`, and never younger than
three polls: an idle manager passes once per `poll_interval`).

``python -m air_executor_manager.health`` serves ``GET /health`` on 127.0.0.1:8090;
``--check`` asks it once and exits 0 or 1 (compose's healthcheck).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from air_executor.config import Config
from air_executor.storage.manager_lock import (
    active_manager,
    launches_paused,
    running_manager_pid,
    standby_managers,
)

from air_executor_manager.metrics import heartbeat_age


def _handler(config: Config) -> type[BaseHTTPRequestHandler]:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.rstrip("/") not in ("", "/health"):
                self.send_error(404)
                return
            pid = running_manager_pid(config.base)
            age = heartbeat_age(config.base)
            stale_after = max(config.health_stale_after, 3 * config.poll_interval)
            if not pid:
                verdict = "down"
            elif age is not None and age > stale_after:
                verdict = "stuck"  # holds the lock, but its loop has not finished a pass for too long
            else:
                verdict = "running"
            body = json.dumps(
                {
                    "manager": verdict,
                    "pid": pid,
                    "base": str(config.base),
                    "active": active_manager(config.base) if pid else None,  # "PID on HOST"
                    "standby": standby_managers(config.base),  # managers waiting to take over
                    "last_pass_seconds_ago": None if age is None else round(age, 3),
                    # Still healthy (restarting it would not free space), but it says why nothing starts.
                    "launches_paused": launches_paused(config.base) if pid else None,
                }
            )
            self.send_response(200 if verdict == "running" else 503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass  # healthchecks every few seconds would drown the manager's log

    return Health


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="air-executor-health")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--check", action="store_true", help="query the endpoint once; exit 0 if healthy")
    args = parser.parse_args(argv)
    if args.check:
        try:
            with urllib.request.urlopen(f"http://{args.host}:{args.port}/health", timeout=5) as reply:
                return 0 if reply.status == 200 else 1
        except OSError as exc:
            print(f"unhealthy: {exc}", file=sys.stderr)
            return 1
    server = ThreadingHTTPServer((args.host, args.port), _handler(Config.load()))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
