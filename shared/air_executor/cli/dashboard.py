"""`air-executor dashboard`: serve the web dashboard (README "Dashboard")."""

from __future__ import annotations

import sys

import click

from air_executor.cli.common import Env, with_env
from air_executor.dashboard import DEFAULT_HOST, DEFAULT_PORT
from air_executor.errors import ManagerError

MAX_REQUEST_HEAD = 64 * 1024  # bytes of request line and headers (README "Trust model")


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option("--check", is_flag=True, help="Ask a running dashboard's /healthz once; exit 0 if it is healthy.")
@with_env
def dashboard(env: Env, host: str, port: int, check: bool) -> int:
    """Serve the web dashboard: jobs, task graphs, timelines, logs, analytics, live."""
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    if check:
        return _check(url)
    try:
        import uvicorn

        from air_executor.dashboard.app import create_app
    except ImportError as exc:
        raise ManagerError(
            f"the dashboard is not installed here ({exc.name} is missing): pip install 'air-executor[dashboard]'"
        ) from None
    app = create_app(env.config)
    click.echo(f"Dashboard on {url} for {env.config.base} (Ctrl-C stops it)")
    if not env.config.dashboard_token:
        click.echo("Actions (cancel, retry) are off: set dashboard_token to allow them.")
    # h11 with a bound on a request's head: httptools would read a header of any size into memory.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            lifespan="on",
            http="h11",
            h11_max_incomplete_event_size=MAX_REQUEST_HEAD,
        )
    )
    server.run()
    return 0 if server.started else 1


def _check(url: str) -> int:
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as reply:
            body = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url}/healthz answered {exc.code}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    click.echo(f"{body.get('status')}: {body.get('jobs')} jobs, live updates by {body.get('live')}")
    return 0
