"""The dashboard in a real browser (headless Chromium from Debian, driven by Selenium).

What a CI operator does with it: keep the jobs page open, see a job submitted from the CLI
appear, watch its tasks go from pending to completed and its log grow, all without a reload;
cancel a running job with the token, and find that no action works without it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Base, ManagerProcess, cli, gated_task, wait_for

from dashboard.conftest import TOKEN, DashboardProcess

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1300,1000",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Chromium with a fresh profile; fails (never skips) when Chromium is missing: `make test` installs it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail("chromium and chromedriver are missing: run deploy/dev/ensure-chromium.sh (make test does)")
    profile = tempfile.mkdtemp(prefix="ae-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(driver))
    browser.implicitly_wait(0)
    try:
        yield browser
        # A script error or a Content-Security-Policy violation; a refused action's 401 is expected.
        errors = [
            e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "status of 401" not in e["message"]
        ]
        assert not errors, errors
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def text_of(browser: Any, css: str) -> str:
    """The text of the first element `css` finds ("" if none). A live update may replace the element
    between finding and reading it: then it is found again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(10):
        try:
            found = browser.find_elements(By.CSS_SELECTOR, css)
            return found[0].text if found else ""
        except StaleElementReferenceException:
            continue
    return ""


def open_page(browser: Any, url: str) -> None:
    browser.get(url)
    wait_for(lambda: text_of(browser, "#live") == "● live", what="the page's live connection")
    browser.execute_script("window.aeNoReload = true")  # gone if the page reloads


def still_same_page(browser: Any) -> bool:
    return bool(browser.execute_script("return window.aeNoReload === true"))


def test_operator_watches_a_job_run_live(
    base: Base, manager: ManagerProcess, dashboard_with_token: DashboardProcess, browser: Any, tmp_path: Path
) -> None:
    """Jobs page, then a job submitted from the CLI appears, its tasks complete and its log grows without reloads."""
    from selenium.webdriver.common.by import By

    d = dashboard_with_token
    open_page(browser, d.url + "/")
    gate = tmp_path / "gate"
    job = tmp_path / "job.yaml"
    first = gated_task("build", gate, before="compiling step one", after="linked the binary")
    job.write_text(
        "name: ci-build\ntasks:\n"
        f"  - {first}\n"
        "  - {id: test, command: echo, args: ['tests passed'], dependencies: [build]}\n"
    )
    assert cli("submit", str(job), base=base).returncode == 0
    wait_for(lambda: text_of(browser, 'tr[data-job="ci-build"]'), what="the new job on the jobs page")
    assert still_same_page(browser)

    browser.find_element(By.LINK_TEXT, "ci-build").click()
    wait_for(lambda: text_of(browser, "#live") == "● live", what="the job page's live connection")
    browser.execute_script("window.aeNoReload = true")
    wait_for(lambda: text_of(browser, 'tr[data-task="build"] .badge') == "running", what="build running")
    assert text_of(browser, 'tr[data-task="test"] .badge') == "pending"
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, '#graph g.node[data-task="test"] rect.st-pending'),
        what="the task graph, test pending",
    )

    browser.find_element(By.CSS_SELECTOR, 'a.log-link[data-task="build"]').click()
    wait_for(lambda: "compiling step one" in text_of(browser, "#log-text"), what="the running task's first line")
    gate.touch()
    wait_for(lambda: "linked the binary" in text_of(browser, "#log-text"), what="the line it prints next, live")
    wait_for(lambda: text_of(browser, 'tr[data-task="test"] .badge') == "completed", what="test completed")
    wait_for(lambda: text_of(browser, "#job-state") == "completed", what="the job completed")
    assert text_of(browser, 'tr[data-task="build"] .badge') == "completed"
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, '#graph g.node[data-task="test"] rect.st-completed'),
        what="the task graph, test completed",
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline rect.st-success")) == 2
    wait_for(lambda: "Final State: completed" in text_of(browser, "#report"), what="the results report")
    assert still_same_page(browser)


def test_cancel_needs_the_token(
    base: Base, manager: ManagerProcess, dashboard_with_token: DashboardProcess, browser: Any
) -> None:
    """Without the token the Cancel button is refused and nothing changes; with it the job is cancelled."""
    from selenium.webdriver.common.by import By

    d = dashboard_with_token
    base.submit("long-run", [{"id": "sleepy", "command": "sleep", "args": ["60"]}])
    base.wait_state("long-run", "working")
    open_page(browser, d.url + "/jobs/long-run")
    wait_for(lambda: text_of(browser, 'tr[data-task="sleepy"] .badge') == "running", what="the task running")

    browser.find_element(By.ID, "cancel-job").click()
    wait_for(lambda: "cancel refused" in text_of(browser, "#flash"), what="the refusal")
    assert "needs the dashboard token" in text_of(browser, "#flash")
    browser.find_element(By.ID, "token").send_keys("not-the-token-000000")
    browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
    browser.find_element(By.ID, "cancel-job").click()
    wait_for(lambda: "wrong dashboard token" in text_of(browser, "#flash"), what="the wrong token refused")
    assert base.state("long-run")["state"] == "working"

    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
    browser.find_element(By.ID, "cancel-job").click()
    wait_for(lambda: text_of(browser, "#job-state") == "cancelled", what="the job cancelled on the page")
    assert "Cancelled job long-run" in text_of(browser, "#flash")
    wait_for(lambda: text_of(browser, 'tr[data-task="sleepy"] .badge') == "cancelled", what="its task stopped")
    assert base.state("long-run")["state"] == "cancelled"
    assert browser.find_element(By.ID, "cancel-job").get_attribute("disabled") is not None
    assert still_same_page(browser)
