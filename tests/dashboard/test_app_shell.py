"""The app shell: settings live in a file (they survive a new session), running jobs in the sidebar."""

import json

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args


def test_settings_are_saved_to_disk_and_used_by_a_new_session(open_page, workspace, small_pages_dataset):
    app = open_page("train")
    assert "No datasets" in app.info[0].value
    app.sidebar.text_input(key="settings.data_dir").set_value(str(small_pages_dataset.parent)).run()
    saved = json.loads((workspace / "workspace" / "dashboard.json").read_text())
    assert saved["data_dir"] == str(small_pages_dataset.parent)

    fresh = open_page("train")  # a new browser session: nothing in session state
    assert fresh.sidebar.text_input(key="settings.data_dir").value == str(small_pages_dataset.parent)
    assert fresh.selectbox(key="train.dataset").value == str(small_pages_dataset)


def test_a_bad_tracking_uri_is_reported_by_the_page_that_needs_it(open_page, workspace):
    (workspace / "workspace").mkdir(parents=True, exist_ok=True)
    (workspace / "workspace" / "dashboard.json").write_text(json.dumps({"tracking_uri": "nosuchscheme://x"}))
    app = open_page("compare")
    assert "cannot read the tracking store nosuchscheme://x" in app.error[0].value


def test_running_jobs_are_listed_in_the_sidebar(open_page, datasets_setting, fake_spawn):
    job = jobs.start_job(*parse_train_args(["--dataset", str(datasets_setting), "--preset", "minimal"]), spawn=fake_spawn)
    app = open_page("estimate")
    sidebar = [c.value for c in app.sidebar.caption]
    assert "Running jobs" in sidebar and any(job.job_id in line for line in sidebar)
