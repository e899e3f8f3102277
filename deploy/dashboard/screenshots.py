"""Re-make the README's dashboard screenshots (deploy/dashboard/jobs.png, job.png) with headless Chromium.

Runs a real manager and dashboard on a temporary base folder, submits a few jobs (one of
them left running, one failing), and saves the jobs page and a job page:
`.venv/bin/python deploy/dashboard/screenshots.py` (needs chromium and chromedriver).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from air_executor.client import create_job
from air_executor.storage.file_store import FileStore

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,820",
)


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    root = Path(tempfile.mkdtemp(prefix="ae-shots-"))
    root.chmod(0o1777)
    base = root / "ae"
    base.mkdir()
    (base / "config.yaml").write_text("launcher: subprocess\npoll_interval: 1\nlog_format: text\n")
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base), "AIR_EXECUTOR_DASHBOARD_TOKEN": "screenshot-token-0123"}
    procs = [subprocess.Popen([str(BIN / "air-executor"), "run"], env=env, cwd=root, stdout=subprocess.DEVNULL)]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs.append(
        subprocess.Popen(
            [str(BIN / "air-executor"), "dashboard", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
        )
    )
    profile = tempfile.mkdtemp(prefix="ae-chromium-")
    try:
        store = FileStore(base)
        for n in range(1, 6):
            create_job(
                store,
                f"nightly-etl-{n}",
                [
                    {"id": "extract", "command": "sh", "args": ["-c", "echo extracting; sleep 1"]},
                    {
                        "id": "transform",
                        "command": "sh",
                        "args": ["-c", "echo transforming; sleep 1"],
                        "dependencies": ["extract"],
                    },
                    {"id": "load", "command": "echo", "args": ["loaded"], "dependencies": ["transform"]},
                ],
            )
        create_job(store, "flaky-tests", [{"id": "unit", "command": "sh", "args": ["-c", "echo 2 failed; exit 1"]}])
        time.sleep(9)
        create_job(
            store,
            "ci-build-1842",
            [
                {"id": "checkout", "command": "echo", "args": ["checked out"]},
                {
                    "id": "compile",
                    "command": "sh",
                    "args": ["-c", "for i in 1 2 3 4 5 6; do echo compiling unit $i; sleep 1; done"],
                    "dependencies": ["checkout"],
                },
                {"id": "lint", "command": "sh", "args": ["-c", "echo lint ok; sleep 2"], "dependencies": ["checkout"]},
                {"id": "test", "command": "sh", "args": ["-c", "sleep 5"], "dependencies": ["compile", "lint"]},
                {"id": "package", "command": "echo", "args": ["done"], "dependencies": ["test"]},
            ],
        )
        time.sleep(4)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        browser = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
        url = f"http://127.0.0.1:{port}"
        urllib.request.urlopen(f"{url}/healthz", timeout=10).read()
        browser.get(url + "/")
        time.sleep(1.5)
        browser.save_screenshot(str(HERE / "jobs.png"))
        browser.get(url + "/jobs/ci-build-1842#log=compile")
        time.sleep(2)
        browser.save_screenshot(str(HERE / "job.png"))
        browser.quit()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
