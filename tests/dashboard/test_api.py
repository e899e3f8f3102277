"""The dashboard's JSON API and pages, on real job files written by a real manager and runners."""

from __future__ import annotations

from pathlib import Path

from conftest import Base, ManagerProcess, cli, gated_task, wait_for

from dashboard.conftest import TOKEN, DashboardProcess

DEMO = [
    {"id": "greet", "command": "echo", "args": ["hello"]},
    {"id": "work", "command": "sh", "args": ["-c", "echo working; exit 0"], "dependencies": ["greet"]},
    {"id": "done", "command": "echo", "args": ["bye"], "dependencies": ["work"]},
]


def test_jobs_job_tasks_and_log_of_a_finished_job(
    base: Base, manager: ManagerProcess, dashboard: DashboardProcess
) -> None:
    """A job the manager ran: listed with its progress, its graph, every attempt, the report and each log."""
    base.submit("demo", DEMO)
    base.wait_state("demo", "completed")
    row = wait_for(lambda: _row(dashboard, "demo", "completed"), what="the job to show as completed")
    assert (row["total"], row["done"], row["counts"]["running"], row["counts"]["pending"]) == (3, 3, 0, 0)
    assert row["started"] is not None and row["duration"] >= 0

    job = dashboard.get("/api/jobs/demo").json()
    assert [t["id"] for t in job["tasks"]] == ["greet", "work", "done"]
    assert {(e["from"], e["to"]) for e in job["graph"]["edges"]} == {("greet", "work"), ("work", "done")}
    assert {n["status"] for n in job["graph"]["nodes"]} == {"completed"}
    assert [(a["task"], a["attempt"], a["result"], a["exit_code"]) for a in job["attempts"]] == [
        ("greet", 1, "success", 0),
        ("work", 1, "success", 0),
        ("done", 1, "success", 0),
    ]
    for attempt in job["attempts"]:
        assert attempt["queued"] <= attempt["started"] <= attempt["ended"], attempt
    assert "Final State: completed" in job["report"] and "Command: sh -c echo working; exit 0" in job["report"]
    assert job["report"] == cli("results", "--job", "demo", base=base).stdout.rstrip("\n")

    tasks = dashboard.get("/api/jobs/demo/tasks").json()
    assert [(t["id"], t["status"], t["command"]) for t in tasks["tasks"]][1] == ("work", "completed", "sh")
    log = dashboard.get("/api/jobs/demo/tasks/work/log").json()
    assert log["text"] == "working\n" and (log["offset"], log["end"]) == (0, 8)
    assert dashboard.get("/api/jobs/demo/tasks/work/log?offset=4").json()["text"] == "ing\n"
    assert dashboard.get("/api/jobs/demo/tasks/work/log?last=3").json() == {
        "job": "demo",
        "task": "work",
        "offset": 5,
        "end": 8,
        "text": "ng\n",
    }


def test_filters_and_pages(base: Base, dashboard: DashboardProcess) -> None:
    """State and name filters, and pages of a given size, newest first; counts per state over all jobs."""
    for i in range(5):
        base.submit(f"build-{i}", [{"id": "t", "command": "true"}])
    base.submit("deploy-x", [{"id": "t", "command": "true"}])
    cli("cancel", "--job", "build-0", base=base)
    wait_for(lambda: dashboard.get("/api/jobs").json()["all"] == 6, what="all six jobs indexed")
    wait_for(lambda: _row(dashboard, "build-0", "cancelled"), what="build-0 cancelled")
    page = dashboard.get("/api/jobs?name=BUILD&per_page=2&page=2").json()
    assert (page["total"], page["pages"], page["page"]) == (5, 3, 2)
    assert [j["name"] for j in page["jobs"]] == ["build-2", "build-1"]
    assert page["states"]["waiting"] == 5 and page["states"]["cancelled"] == 1
    cancelled = dashboard.get("/api/jobs?state=cancelled").json()
    assert [j["name"] for j in cancelled["jobs"]] == ["build-0"]
    assert [j["name"] for j in dashboard.get("/api/jobs?state=active&name=deploy").json()["jobs"]] == ["deploy-x"]
    html = dashboard.get("/?state=cancelled").text
    assert 'href="/jobs/build-0"' in html and "build-1" not in html


def test_bad_input_gets_clear_errors_never_a_traceback(base: Base, dashboard: DashboardProcess) -> None:
    """Unknown job, bad name, bad parameter, unknown page: a JSON error under /api/, an error page elsewhere."""
    base.submit("there", [{"id": "t", "command": "true"}])
    cases = {
        "/api/jobs/nope": (404, "job 'nope' not found"),
        "/api/jobs/bad%20name": (400, "invalid job name 'bad name'"),
        "/api/jobs/there/tasks/x%20y/log": (400, "invalid task id 'x y'"),
        "/api/jobs/there/tasks/..%2F..%2Fetc/log": (404, "no such page"),
        "/api/jobs?state=weird": (400, "unknown state filter 'weird'"),
        "/api/jobs?page=zero": (400, "page must be a whole number between 1 and"),
        "/api/jobs/there/tasks/t/log?offset=-1": (400, "offset must be a whole number"),
        "/api/nothing": (404, "no such page"),
    }
    for path, (status, message) in cases.items():
        reply = dashboard.get(path)
        assert reply.status == status, (path, reply.status, reply.text)
        assert message in reply.json()["error"], (path, reply.text)
    for path, (status, message) in {
        "/jobs/nope": (404, "job &#39;nope&#39; not found"),
        "/zzz": (404, "no such page"),
    }.items():
        reply = dashboard.get(path)
        assert reply.status == status and reply.headers["content-type"].startswith("text/html")
        assert message in reply.text and "Traceback" not in reply.text
    assert dashboard.get("/api/jobs/there/tasks/t/log").json()["text"] == ""  # no log yet: empty, not an error
    assert "Traceback" not in dashboard.log()


def test_job_data_is_escaped_and_the_page_is_locked_down(
    base: Base, manager: ManagerProcess, dashboard: DashboardProcess
) -> None:
    """Commands, arguments, output and errors that look like HTML are shown as text; a strict CSP is served."""
    evil = "<script>alert(1)</script>"
    base.submit(
        "evil", [{"id": "x", "command": "sh", "args": ["-c", f"echo '{evil}'; exit 3", "<img src=x onerror=alert(2)>"]}]
    )
    base.wait_state("evil", "failed")
    wait_for(lambda: _row(dashboard, "evil", "failed"), what="the job to show as failed")
    page = dashboard.get("/jobs/evil")
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "&lt;img src=x onerror=alert(2)&gt;" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    scripts = [line for line in page.text.splitlines() if "<script" in line]
    assert scripts and all('src="/static/' in line for line in scripts), scripts
    assert dashboard.get("/api/jobs/evil/tasks/x/log").json()["text"].startswith(evil)
    assert dashboard.get("/static/vendor/uPlot.iife.min.js").status == 200


def test_events_bring_new_jobs_and_task_changes(
    base: Base, manager: ManagerProcess, dashboard: DashboardProcess, tmp_path: Path
) -> None:
    """The event stream announces a new job, then its task running and completing, without asking again."""
    gate = tmp_path / "gate"
    events = []

    def submit_then_open(kind: str, data: dict) -> bool:
        events.append((kind, data))
        if kind == "hello":
            base.submit("live", [gated_task("slow", gate)])
        job = data.get("job") or {}
        if job.get("counts", {}).get("running") == 1:
            gate.touch()
        return job.get("state") == "completed"

    dashboard.events("/api/events", submit_then_open)
    states = [d["job"]["state"] for k, d in events if k == "job" and d["name"] == "live"]
    assert states[0] in ("waiting", "working") and "working" in states and states[-1] == "completed", states
    running = [d["job"]["counts"]["running"] for k, d in events if k == "job" and d["name"] == "live"]
    assert 1 in running and running[-1] == 0, running


def test_log_stream_follows_a_running_task(
    base: Base, manager: ManagerProcess, dashboard: DashboardProcess, tmp_path: Path
) -> None:
    """The log stream sends what a task prints while it runs."""
    gate = tmp_path / "gate"
    base.submit("talk", [gated_task("t", gate, before="first line", after="second line")])
    wait_for(lambda: "first line" in base.log("talk", "t"), what="the task to print its first line")
    chunks: list[str] = []

    def read(kind: str, data: dict) -> bool:
        if kind == "chunk":
            chunks.append(data["text"])
            gate.touch()
        return "second line" in "".join(chunks)

    dashboard.events("/api/jobs/talk/tasks/t/log/stream?offset=0", read)
    assert "".join(chunks).startswith("first line\n")


def test_actions_are_off_without_a_token(base: Base, manager: ManagerProcess, dashboard: DashboardProcess) -> None:
    base.submit("keep", [{"id": "t", "command": "sleep", "args": ["30"]}])
    for action in ("cancel", "reset", "retry"):
        reply = dashboard.post(f"/api/jobs/keep/{action}", token="anything-at-all-1234")
        assert reply.status == 403 and "actions are off" in reply.json()["error"], reply.text
    assert base.state("keep")["state"] != "cancelled"
    assert "Cancel job" not in dashboard.get("/jobs/keep").text


def test_actions_need_the_token_and_go_through_the_client(
    base: Base, manager: ManagerProcess, dashboard_with_token: DashboardProcess
) -> None:
    """Without the token or with a wrong one nothing changes; with it cancel and retry do what the CLI does."""
    d = dashboard_with_token
    base.submit(
        "long", [{"id": "t", "command": "sleep", "args": ["30"]}, {"id": "u", "command": "true", "dependencies": ["t"]}]
    )
    base.wait_state("long", "working")
    assert d.post("/api/jobs/long/cancel").status == 401
    assert d.post("/api/jobs/long/cancel", token="wrong-token-0123456789").json()["error"] == "wrong dashboard token"
    assert base.state("long")["state"] == "working"
    reply = d.post("/api/jobs/long/cancel", token=TOKEN)
    assert reply.status == 200, reply.text
    assert reply.json()["message"] == "Cancelled job long: 1 pending task(s) cancelled, 1 running task(s) being stopped"
    base.wait_state("long", "cancelled")
    wait_for(lambda: base.task("long", "t")["status"] == "cancelled", what="the running task to be stopped")
    again = d.post("/api/jobs/long/cancel", token=TOKEN)
    assert again.status == 409 and again.json()["error"] == "job 'long' is already cancelled"
    retry = d.post("/api/jobs/long/retry", token=TOKEN)
    assert retry.status == 200 and retry.json()["message"] == "Job long reset to waiting (2 tasks back to pending)"
    assert d.post("/api/jobs/long/cancel", token=TOKEN).status == 200
    assert d.post("/api/jobs/nope/cancel", token=TOKEN).status == 404
    assert d.post("/api/jobs/long/explode", token=TOKEN).status == 404


def test_healthz(base: Base, dashboard: DashboardProcess) -> None:
    """Healthy once the jobs folder is read; live by inotify once there is a jobs folder to watch."""
    assert dashboard.get("/healthz").json()["live"] == "polling"  # no jobs folder yet
    base.submit("first", [{"id": "t", "command": "true"}])
    body = wait_for(lambda: (b := dashboard.get("/healthz").json())["jobs"] == 1 and b, what="the new job")
    assert body["status"] == "ok" and body["live"] == "inotify" and body["base"] == str(base.path)
    check = cli("dashboard", "--port", str(dashboard.port), "--check", base=base)
    assert check.returncode == 0 and check.stdout.startswith("ok: "), check.stderr


def _row(dashboard: DashboardProcess, name: str, state: str) -> dict | None:
    rows = [j for j in dashboard.get(f"/api/jobs?name={name}").json()["jobs"] if j["name"] == name]
    return rows[0] if rows and rows[0]["state"] == state else None
