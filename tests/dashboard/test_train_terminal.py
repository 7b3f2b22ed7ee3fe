"""The dashboard's terminal after the walk-through's path (issue 22, item 10): "Use these settings"
on the estimate page, then the Train page with a finished, evaluated job. Streamlit used to log
"widget … created with a default value but also had its value set via the Session State API" with
a stack trace, and MLflow drew "Downloading artifacts" progress bars, into the terminal of
`deepsynth dashboard`. Served for real (the warning needs Streamlit's runtime, which AppTest lacks)
and driven in headless Chromium; the server's output is read afterwards."""

from __future__ import annotations

import json

import pytest
from headless_chromium import browser  # noqa: F401  (a fixture)
from test_browser import screenshot, serving, settled

from deepsynth import jobs
from deepsynth.tracking.store import RunLogger
from deepsynth.training.cli import parse_train_args


@pytest.mark.browser
def test_hand_off_then_train_leaves_the_terminal_quiet(workspace, store, datasets_setting, fake_spawn, browser,
                                                      tmp_path):
    uri = f"sqlite:///{tmp_path / 'own-mlflow.db'}"
    logger = RunLogger.start("dashboard-tests", run_name="scored", uri=uri)
    logger.log_metrics({"train/loss": 2.5}, 1, flush=True)
    logger.log_dict({"split": "validation", "docs": 4, "rouge": {"tuned": {"rougeL": 38.4}, "base": {"rougeL": 28.7}}},
                    "eval/rouge.json")
    logger.log_text("id,reference,tuned_prediction\na,b,c\n", "eval/predictions.csv")
    logger.finish()
    job = jobs.start_job(*parse_train_args(["--dataset", str(datasets_setting), "--max-steps", "1"]), spawn=fake_spawn)
    fake_spawn.processes[-1].kill()
    fake_spawn.processes[-1].wait()
    (job.job_dir / "report.json").write_text(json.dumps(
        {"pid": job.pid, "run_id": logger.run_id, "tracking_uri": uri, "state": "FINISHED", "step": 1,
         "total_steps": 1}))

    with serving(workspace, store, tmp_path) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(url)
        page.get_by_text("Memory per term").first.wait_for(timeout=90_000)
        settled(page)
        use = page.get_by_role("button", name="Use these settings on the Train page")
        use.wait_for(timeout=120_000)  # the page draws its charts first: slow on a busy machine
        screenshot(page, tmp_path, "estimate-before-hand-off")
        use.click()
        page.get_by_text("opens on “From the estimate page”", exact=False).first.wait_for(timeout=60_000)
        page.goto(f"{url}/train")
        page.get_by_text("From the estimate page: standard", exact=False).first.wait_for(timeout=90_000)
        page.get_by_text("Scores", exact=False).first.wait_for(timeout=90_000)
        settled(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, tmp_path, "train-after-hand-off")
    terminal = (tmp_path / "dashboard.log").read_text(errors="replace")
    assert "created with a default value but also had its value set" not in terminal, terminal[-3000:]
    assert "Downloading artifacts" not in terminal, terminal[-3000:]
