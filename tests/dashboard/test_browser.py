"""Real-browser smoke test: serve the dashboard with `deepsynth dashboard`'s command on a free
loopback port, open every page in Debian's headless Chromium (driven by playwright's python
package; never `playwright install`), check what each page shows, and save full-page screenshots
(a tall viewport: Streamlit scrolls an inner container). Screenshots go to the test's temp dir
and, when DEEPSYNTH_SCREENSHOTS names a folder, there too."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from headless_chromium import browser  # noqa: F401  (a fixture)
from render_sweep_runs import render_sweep_store  # noqa: F401  (a fixture)
from waiting import wait_for

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.dashboard_host.launcher import dashboard_command

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
    with serving(workspace, store, tmp_path) as url:
        yield url


@contextlib.contextmanager
def serving(workspace, store, tmp_path, **env):
    """`deepsynth dashboard`'s command on a free loopback port (extra environment: `env`); the URL."""
    port = free_port()
    log = open(tmp_path / "dashboard.log", "wb")
    process = subprocess.Popen(dashboard_command("127.0.0.1", port), stdout=log, stderr=subprocess.STDOUT,
                               cwd=str(workspace), env=dict(os.environ, DEEPSYNTH_HOME=str(workspace),
                                                            MLFLOW_TRACKING_URI=store.uri, **env))
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
def test_the_hand_off_is_preselected_and_a_reload_keeps_the_form(served, workspace, browser, tmp_path):
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
    assert "Plan: 37 steps" not in page.inner_text("body")  # 37 cannot be the by-epochs plan here
    steps = page.get_by_role("spinbutton", name="Max steps (0 = by epochs)")
    steps.fill("37")
    steps.press("Enter")
    page.get_by_text("Plan: 37 steps", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    saved = workspace / "workspace" / "dashboard-forms" / "local.json"  # ui.form_memory's file, one user
    wait_for(lambda: saved.exists() and json.loads(saved.read_text()).get("train", {}).get("train.cfg.max_steps") == 37,
             timeout_s=30, what="the form's max steps on disk")
    screenshot(page, tmp_path, "train-before-reload")
    page.reload()  # a new session: the form comes back from disk
    page.get_by_text("Plan: 37 steps", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    field = page.get_by_role("spinbutton", name="Max steps (0 = by epochs)")
    wait_for(lambda: field.input_value() == "37", timeout_s=15, what="the Max steps field to show 37 after the reload")
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
    page.get_by_text("Upload files", exact=True).click()
    page.get_by_text("Upload files to continue", exact=False).first.wait_for(timeout=60_000)
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


PASSWORD = "correct horse battery staple"


@pytest.fixture
def served_with_login(workspace, store, datasets_setting, tmp_path):
    """The dashboard as `deepsynth dashboard` serves it once a user exists: login on."""
    from deepsynth.dashboard_host import users as dashboard_auth

    users = tmp_path / "private" / "dashboard-users.json"
    dashboard_auth.add_user(users, "alice", PASSWORD)
    with serving(workspace, store, tmp_path, **{dashboard_auth.LOGIN_ENV: dashboard_auth.PASSWORD,
                                               dashboard_auth.USERS_FILE_ENV: str(users)}) as url:
        yield url


@pytest.mark.browser
def test_with_login_on_signed_out_shows_only_the_form_and_signing_in_shows_the_pages(browser, served_with_login, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{served_with_login}/train")
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    settled(page)
    body = page.inner_text("body")
    for hidden in ("Start a training job", "Jobs", "Running jobs", "Compare", "Playground", "Page not found"):
        assert hidden not in body, (hidden, body[:1000])
    screenshot(page, tmp_path, "login-form")

    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong user name or password.").wait_for(timeout=60_000)
    settled(page)
    assert "Start a training job" not in page.inner_text("body")
    screenshot(page, tmp_path, "login-wrong-password")

    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Start a training job").wait_for(timeout=60_000)
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    page.get_by_text("No jobs yet.").wait_for(timeout=60_000)  # the page ran to its end
    page.get_by_text("No account?").wait_for(state="detached", timeout=60_000)
    settled(page)
    assert page.url.endswith("/train")  # the page the link asked for, after signing in
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, tmp_path, "login-train-page")
    page.get_by_role("link", name="Compare").click()
    page.get_by_text("Params that differ", exact=True).wait_for(timeout=60_000)
    settled(page)
    screenshot(page, tmp_path, "login-compare-page")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    settled(page)
    assert "Params that differ" not in page.inner_text("body")


@pytest.mark.browser
def test_compare_page_answers_which_run_is_better_in_chromium(browser, served, eval_store, store, tmp_path):
    """Evaluated runs (scores, intervals, paired deltas, the per-document view with the page image),
    then a 12-run sweep (parallel coordinates, grouping by the sweep tag); nothing spills off the
    right edge: wide tables scroll inside their frame."""
    from deepsynth.tracking.store import RunLogger

    for index in range(12):
        logger = RunLogger.start("browser-sweep", f"sweep{index}", uri=store.uri,
                                 params={"learning_rate": [1e-4, 3e-4, 1e-3][index % 3], "lora.rank": [4, 8][index % 2]},
                                 tags={"deepsynth.sweep": "lr" if index < 6 else "rank", "browser": "sweep"})
        logger.log_metrics({"eval/rougeL": 30.0 + index, "eval/docs": 100}, step=1, flush=True)
        logger.finish()
    no_overflow = ("() => { const main = document.querySelector('[data-testid=\"stMain\"]');"
                   " return main.scrollWidth <= main.clientWidth + 1; }")
    page = browser.new_page(viewport={"width": 1400, "height": 5600})
    page.goto(f"{served}/compare")
    page.get_by_text("Compare runs").first.wait_for(timeout=60_000)
    settled(page)
    tags = page.get_by_placeholder("deepsynth.sweep=lr-sweep-1")
    tags.fill(f"deepsynth.dataset={eval_store['dataset']}")
    tags.press("Enter")
    for text in ("Left out, scored on other documents", "Which run has the higher ROUGE-L", "Against the reference run",
                 "Document by document", "Reference summary", "test split", "Export"):
        page.get_by_text(text).first.wait_for(state="attached", timeout=60_000)
    settled(page)
    body = page.inner_text("body")
    assert page.locator('[data-testid="stException"]').count() == 0, body[:2000]
    image = page.locator('[data-testid="stImage"] img').first
    image.wait_for(timeout=30_000)
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", image.element_handle())
    assert page.evaluate(no_overflow), "the page is wider than its window"
    assert screenshot(page, tmp_path, "compare-runs").stat().st_size > 30_000

    tags.fill("browser=sweep")
    tags.press("Enter")
    page.get_by_text("Many runs: what drives the score (12").first.wait_for(timeout=60_000)
    settled(page)
    assert page.locator(".js-plotly-plot .parcoords").count() >= 1 or "learning_rate" in page.inner_text("body")
    assert page.evaluate(no_overflow)
    assert screenshot(page, tmp_path, "compare-sweep").stat().st_size > 30_000


@pytest.mark.browser
def test_sweeps_and_the_compression_chart_render_in_chromium(browser, served, store, datasets_setting, workspace,
                                                            render_sweep_store, tmp_path):
    """The Train page's queue and sweep progress, and the Compare page's compression chart for the
    runs of a render sweep (a plotly chart with one labelled point per run), screenshotted."""
    from deepsynth.sweeps import parse_axes, plan_sweep, start_sweep
    from deepsynth.training.config import TrainConfig

    sweep = start_sweep(plan_sweep(TrainConfig(dataset=str(datasets_setting), tracking_uri=store.uri),
                                   parse_axes(["lora.rank=4,8"])), start_runner=False)
    page = browser.new_page(viewport={"width": 1400, "height": 3200})
    for name, expected in (("train", ["Queue", "Sweeps", f"Compare the runs of {sweep.sweep_id}"]),
                           ("compare", ["Render sweep: compression vs summary quality", "font_size=14"])):
        if name == "compare":  # its runs, newest first, are preselected
            render_sweep_store.point_dashboard_at_it(workspace)
        page.goto(f"{served}/{name}")
        for text in expected:
            page.get_by_text(text, exact=False).first.wait_for(state="attached", timeout=60_000)
        settled(page)
        assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
        if name == "compare":
            chart = page.locator(".js-plotly-plot").last
            chart.wait_for(state="visible", timeout=60_000)
            labels = chart.locator("g.textpoint text").all_text_contents()  # SVG: no innerText
            assert sorted(labels) == ["font_size=14", "font_size=22", "font_size=28"], labels
            assert chart.locator("g.errorbar").count() == 3  # ROUGE-L intervals drawn
        screenshot(page, tmp_path, f"sweeps-{name}")
