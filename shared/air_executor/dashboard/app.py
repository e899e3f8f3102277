"""The dashboard's web app (Starlette): pages, the JSON API under /api/, event streams, /healthz.

Everything a job holds is data: pages are rendered by Jinja2 with autoescaping, scripts
are files served by the app (no inline script, no CDN), and a strict Content-Security-Policy
says so to the browser. Bad input gets a JSON error under /api/ and an error page elsewhere,
never a traceback.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from air_executor import __version__
from air_executor.config import Config
from air_executor.core.clock import span
from air_executor.dashboard import actions
from air_executor.dashboard.index import FILTERS, MAX_PER_PAGE
from air_executor.dashboard.jobdata import detail, read_job, task_view
from air_executor.dashboard.live import Live, sse
from air_executor.errors import (
    AirExecutorError,
    FileUnreadable,
    InvalidJob,
    InvalidName,
    JobFileRefused,
    JobNotFound,
    LockTimeout,
)
from air_executor.storage.names import check_job_name, check_task_id

log = logging.getLogger("air_executor.dashboard")

HERE = Path(__file__).resolve().parent
LOG_CHUNK = 256 * 1024  # bytes of a log sent at once
MAX_LOG_READ = 8 * 1024 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
STATUS = {
    InvalidName: 400,
    JobNotFound: 404,
    InvalidJob: 409,
    LockTimeout: 409,
    JobFileRefused: 422,
    FileUnreadable: 422,
}


class BadRequest(Exception):
    """A query parameter out of its range."""


class Dashboard:
    """The app's state: the config, the store, the live index and the templates."""

    def __init__(self, config: Config, sweep: float = 30.0) -> None:
        self.config = config
        self.store = config.file_store()
        self.token = config.dashboard_token
        self.live = Live(self.store, config.poll_interval, sweep)
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
        self.templates.filters.update(when=when, took=span)

    def page(self, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("actions_on", bool(self.token))
        html = self.templates.get_template(name).render(version=__version__, base=self.store.base, **context)
        return HTMLResponse(html, code)

    # -- pages -------------------------------------------------------------------------------

    async def jobs_page(self, request: Request) -> Response:
        query = self._jobs_query(request)
        return self.page("jobs.html", result=self.live.index.query(**query), query=query, filters=list(FILTERS))

    async def job_page(self, request: Request) -> Response:
        name = check_job_name(request.path_params["name"])
        docs = await asyncio.to_thread(read_job, self.store, name)
        return self.page("job.html", job=detail(docs))

    async def analytics_page(self, request: Request) -> Response:
        return self.page("analytics.html", stats=self.live.index.analytics(_int(request, "minutes", 60, 1, 1440)))

    async def healthz(self, request: Request) -> Response:
        live = self.live
        body = {
            "status": "ok" if live.index.ready else "starting",
            "jobs": len(live.index),
            "indexed": live.index.ready,
            "live": live.mode,
            "base": str(self.store.base),
            "version": __version__,
        }
        if live.failure is not None:
            body.update(status="failing", error=live.failure)
            return JSONResponse(body, 503)
        return JSONResponse(body)

    # -- the JSON API ------------------------------------------------------------------------

    async def api_jobs(self, request: Request) -> Response:
        return JSONResponse(self.live.index.query(**self._jobs_query(request)))

    async def api_job(self, request: Request) -> Response:
        name = check_job_name(request.path_params["name"])
        docs = await asyncio.to_thread(read_job, self.store, name)
        return JSONResponse({**detail(docs), "actions": bool(self.token)})

    async def api_tasks(self, request: Request) -> Response:
        name = check_job_name(request.path_params["name"])
        docs = await asyncio.to_thread(read_job, self.store, name)
        return JSONResponse({"job": name, "problem": docs.problem, "tasks": [task_view(t) for t in docs.tasks]})

    async def api_log(self, request: Request) -> Response:
        name, task = self._job_and_task(request)
        last = request.query_params.get("last")
        start = _int(request, "offset", 0, 0, 2**62)
        limit = _int(request, "limit", LOG_CHUNK, 1, MAX_LOG_READ)
        tail = None if last is None else _int(request, "last", 0, 0, MAX_LOG_READ)
        data, end = await asyncio.to_thread(self.store.read_log, name, task, start, last=tail, limit=limit)
        begin = end - len(data)
        return JSONResponse(
            {"job": name, "task": task, "offset": begin, "end": end, "text": data.decode("utf-8", "replace")}
        )

    async def api_log_stream(self, request: Request) -> Response:
        name, task = self._job_and_task(request)
        start = _int(request, "offset", 0, 0, 2**62)
        await asyncio.to_thread(self.store.read_log, name, task, 0, limit=1)  # refuse a bad log before streaming
        return _stream(self._log_events(name, task, start))

    async def _log_events(self, name: str, task: str, offset: int) -> AsyncIterator[str]:
        """New bytes of a log as they are written: read when inotify says the log grew."""
        waiter = self.live.log_waiter(name, task)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            while True:
                waiter.clear()
                try:
                    data, end = await asyncio.to_thread(self.store.read_log, name, task, offset, limit=LOG_CHUNK)
                except (JobNotFound, JobFileRefused) as exc:
                    yield sse("problem", {"error": str(exc)})
                    return
                if data:
                    yield sse("chunk", {"offset": offset, "end": end, "text": decoder.decode(data)})
                    offset = end
                    continue
                try:
                    await asyncio.wait_for(waiter.wait(), 15.0 if self.live.mode == "inotify" else 1.0)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self.live.drop_log_waiter(name, task, waiter)

    async def api_events(self, request: Request) -> Response:
        job = request.query_params.get("job")
        return _stream(self.live.events(None if job is None else check_job_name(job)))

    async def api_analytics(self, request: Request) -> Response:
        return JSONResponse(self.live.index.analytics(_int(request, "minutes", 60, 1, 1440)))

    async def api_action(self, request: Request) -> Response:
        actions.check_token(self.token, request.headers.get("authorization"))
        name = check_job_name(request.path_params["name"])
        action = request.path_params["action"]
        if action not in actions.ACTIONS:
            raise actions.Refused(404, f"unknown action {action!r} (known: {', '.join(actions.ACTIONS)})")
        outcome = await asyncio.to_thread(actions.run, self.store, action, name)
        log.info("dashboard action: %s", outcome["message"])
        return JSONResponse(outcome)

    # -- helpers -----------------------------------------------------------------------------

    def _jobs_query(self, request: Request) -> dict[str, Any]:
        state = request.query_params.get("state") or "all"
        if state not in FILTERS:
            raise BadRequest(f"unknown state filter {state!r} (known: {', '.join(FILTERS)})")
        return {
            "state": state,
            "name": request.query_params.get("name", "")[:100],
            "page": _int(request, "page", 1, 1, 10**9),
            "per_page": _int(request, "per_page", 50, 1, MAX_PER_PAGE),
        }

    def _job_and_task(self, request: Request) -> tuple[str, str]:
        return check_job_name(request.path_params["name"]), check_task_id(request.path_params["task"])

    # -- errors ------------------------------------------------------------------------------

    def error(self, request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/healthz":
            return JSONResponse({"error": message, "status": status}, status)
        return self.page("error.html", status, status=status, message=message)

    async def on_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, actions.Refused):
            return self.error(request, exc.status, str(exc))
        if isinstance(exc, BadRequest):
            return self.error(request, 400, str(exc))
        if isinstance(exc, HTTPException):
            return self.error(request, exc.status_code, _http_message(exc))
        if isinstance(exc, AirExecutorError):
            status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
            return self.error(request, status, str(exc))
        log.exception("dashboard: %s %s failed", request.method, request.url.path)
        return self.error(request, 500, f"internal error ({type(exc).__name__}); see the dashboard's log")


def create_app(config: Config, *, sweep: float = 30.0) -> Starlette:
    """The ASGI app for `config`'s base folder (`uvicorn.run(create_app(Config.load()))`)."""
    dash = Dashboard(config, sweep)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dash.live.start()
        yield
        await dash.live.stop()

    routes = [
        Route("/", dash.jobs_page),
        Route("/jobs/{name}", dash.job_page),
        Route("/analytics", dash.analytics_page),
        Route("/healthz", dash.healthz),
        Route("/api/jobs", dash.api_jobs),
        Route("/api/jobs/{name}", dash.api_job),
        Route("/api/jobs/{name}/tasks", dash.api_tasks),
        Route("/api/jobs/{name}/tasks/{task}/log", dash.api_log),
        Route("/api/jobs/{name}/tasks/{task}/log/stream", dash.api_log_stream),
        Route("/api/jobs/{name}/{action}", dash.api_action, methods=["POST"]),
        Route("/api/events", dash.api_events),
        Route("/api/analytics", dash.api_analytics),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    # Expected errors are answered where they happen; `Exception` is the last resort (a 500,
    # whose traceback goes to the dashboard's log, never to the page).
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        kind: dash.on_error for kind in (AirExecutorError, actions.Refused, BadRequest, HTTPException, Exception)
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.dashboard = dash
    return SecurityHeaders(app)  # type: ignore[return-value]


class SecurityHeaders:
    """Adds the Content-Security-Policy and friends to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def _stream(events: AsyncIterator[str]) -> StreamingResponse:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


def _int(request: Request, key: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{key} must be a whole number between {low} and {high}, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{key} must be a whole number between {low} and {high}, got {value}")
    return value


def _http_message(exc: HTTPException) -> str:
    if exc.status_code == 404:
        return "no such page"
    if exc.status_code == 405:
        return "method not allowed"
    return str(exc.detail)


def when(stamp: float | None) -> str:
    """Epoch seconds as `2025-10-02 07:30:16` UTC; `-` when unknown."""
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))
