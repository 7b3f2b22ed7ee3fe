"""Real-browser smoke test: serve the dashboard with `deepsynth dashboard`'s command on a free
loopback port, open every page in Debian's headless Chromium (driven by playwright's python
package; never `playwright install`), check what each page shows, and save full-page screenshots
(a tall viewport: Streamlit scrolls an inner container). Screenshots go to the test's temp dir
and, when DEEPSYNTH_SCREENSHOTS names a folder, there too."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.dashboard_launcher import dashboard_command

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# page url -> texts that prove it rendered its content (not just the shell)
EXPECTED = {
    "estimate": ["Presets & estimate", "This machine:", "Memory per term", "activations"],
    "dataset": ["Dataset", "Columns used: text ← extract", "4 · Generate"],
    "train": ["Train", "Jobs", "ETA", "-m deepsynth train"],
    "compare": ["Compare runs", "Params that differ", "lora.rank", "Memory: estimate vs measured"],
    "registry": ["Export & registry", "Registered adapters", "Set or move an alias"],
    "playground": ["Playground", "Adapters to compare", "Summarize"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the dashboard exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the dashboard did not answer at {url} within {timeout_s} s")


@pytest.fixture
def served(workspace, store, datasets_setting, fake_spawn, tmp_path):
    """The dashboard on a free loopback port, with runs, a registered adapter, a dataset and a job."""
    from deepsynth.tracking.registry import register_adapter

    register_adapter(store.with_adapter, "browser-smoke", alias="champion", uri=store.uri)
    job = jobs.start_job(*parse_train_args(["--dataset", str(datasets_setting), "--preset", "minimal"]), spawn=fake_spawn)
    (job.job_dir / "report.json").write_text(json.dumps(
        {"pid": job.pid, "run_id": store.finished[1], "tracking_uri": store.uri, "state": "RUNNING",
         "step": 30, "total_steps": 90}))
    port = free_port()
    argv = dashboard_command("127.0.0.1", port)
    log = open(tmp_path / "dashboard.log", "wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=str(workspace),
                               env=dict(os.environ, DEEPSYNTH_HOME=str(workspace), MLFLOW_TRACKING_URI=store.uri))
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()  # stop the server we started, by its pid
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def settled(page) -> None:
    """Wait until the app's script run has finished (no "Running..." widget)."""
    page.wait_for_timeout(300)  # a rerun may take a moment to start
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def screenshot(page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("DEEPSYNTH_SCREENSHOTS"):
        extra = Path(os.environ["DEEPSYNTH_SCREENSHOTS"])
        extra.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, extra / path.name)
    return path


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.browser
def test_every_page_renders_in_chromium(served, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    for name, expected in EXPECTED.items():
        page.goto(f"{served}/{'' if name == 'estimate' else name}")  # the default page is the root
        for text in expected:
            page.get_by_text(text, exact=False).first.wait_for(state="attached", timeout=60_000)
        settled(page)
        body = page.inner_text("body")
        assert "Page not found" not in body, name
        assert page.locator('[data-testid="stException"]').count() == 0, f"{name}: {body[:2000]}"
        assert "Traceback" not in body, name
        screenshot(page, tmp_path, name)


@pytest.mark.browser
def test_the_hand_off_is_preselected_and_a_reload_keeps_the_form(served, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(served)
    page.get_by_text("Memory per term").first.wait_for(timeout=60_000)
    settled(page)
    page.get_by_role("button", name="Use these settings on the Train page").click()
    page.get_by_text("opens on “From the estimate page”", exact=False).first.wait_for(timeout=60_000)
    page.goto(f"{served}/train")
    page.get_by_text("From the estimate page: standard", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    assert page.get_by_role("radio", name="From the estimate page").is_checked()
    steps = page.get_by_role("spinbutton", name="Max steps (0 = by epochs)")
    steps.fill("7")
    steps.press("Enter")
    page.get_by_text("Plan: 7 steps", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    screenshot(page, tmp_path, "train-before-reload")
    page.reload()  # a new session: the form comes back from disk
    page.get_by_text("Plan: 7 steps", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    assert page.get_by_role("spinbutton", name="Max steps (0 = by epochs)").input_value() == "7"
    assert page.get_by_role("radio", name="From the estimate page").is_checked()
    screenshot(page, tmp_path, "train-after-reload")


@pytest.mark.browser
def test_values_shown_after_a_source_switch_and_a_page_switch_are_the_kept_ones(served, browser, tmp_path):
    """Streamlit forgets widgets a run did not draw; one set through session state then comes back
    showing its own default (0) while the session holds the value. What the browser shows after a
    source switch (a stopped run) and a page switch must be the kept value."""
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(f"{served}/dataset")
    page.get_by_text("Columns used", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    size = page.get_by_role("spinbutton", name="Font size (px)")
    size.fill("18")
    size.press("Enter")
    settled(page)
    page.get_by_text("Upload a file", exact=True).click()
    page.get_by_text("Upload a file to continue", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    page.get_by_text("Bundled corpus", exact=True).click()
    page.get_by_text("Columns used", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    assert page.get_by_role("spinbutton", name="Font size (px)").input_value() == "18"
    assert page.get_by_role("spinbutton", name="Page width").input_value() == "1024"  # not 0

    page.goto(served)
    page.get_by_text("Memory per term").first.wait_for(timeout=60_000)
    settled(page)
    rank = page.get_by_role("spinbutton", name="Rank")
    rank.fill("24")
    rank.press("Enter")
    page.get_by_text("Edited settings", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    page.get_by_role("link", name="Dataset").first.click()  # the same session, another page
    page.get_by_text("Columns used", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    page.get_by_role("link", name="Presets & estimate").first.click()
    page.get_by_text("Memory per term").first.wait_for(timeout=60_000)
    settled(page)
    assert page.get_by_role("spinbutton", name="Rank").input_value() == "24"
    assert page.get_by_role("spinbutton", name="Batch size").input_value() == "8"  # not 0
    screenshot(page, tmp_path, "estimate-after-page-switch")
