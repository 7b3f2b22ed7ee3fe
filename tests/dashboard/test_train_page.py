"""Train page: settings validated next to their fields, start a job (spawn injected), watch it
live, cancel and resume it; the job list comes from disk."""

import json
import sys

from dashboard_testing import element_after, started_config, texts

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.jobs import progress as job_progress


def start(open_page, fake_spawn, **values):
    app = open_page("train", **{"deepsynth.spawn": fake_spawn})
    for key, value in values.items():
        widget = app.number_input(key=f"train.{key}") if not isinstance(value, str) else app.text_input(key=f"train.{key}")
        widget.set_value(value)
    app.selectbox(key="train.preset").set_value("minimal").run()
    return app


def test_invalid_settings_show_errors_next_to_their_fields(open_page, datasets_setting, fake_spawn):
    app = start(open_page, fake_spawn, batch_size=0, learning_rate=-1.0)
    app.text_input(key="train.model.Preset").set_value("").run()
    error = element_after(app, "train.learning_rate")
    assert error.type == "error"
    assert "batch_size" in error.value and "learning_rate" in error.value
    model_error = element_after(app, "train.vision_interface.Preset")
    assert model_error.type == "error" and "**name**: must not be empty" in model_error.value
    assert "train.start" not in [b.key for b in app.button]  # nothing to start from invalid settings
    assert not fake_spawn.calls


def test_start_watch_cancel_resume(open_page, datasets_setting, fake_spawn, store, workspace):
    app = start(open_page, fake_spawn, max_steps=60, eval_docs=0, run_name="from-dashboard")
    assert "Runs as `deepsynth train --config train_config.json`" in texts(app)
    app.button(key="train.start").click().run()
    assert not app.exception and "Started job" in app.success[0].value

    argv = fake_spawn.calls[0]
    assert argv[:5] == [sys.executable, "-m", "deepsynth", "train", "--config"]
    started = started_config(argv)
    assert started.dataset == str(datasets_setting) and started.preset == "minimal"
    assert started.max_steps == 60 and started.run_name == "from-dashboard"
    assert started.tracking_uri == store.uri

    (job,) = jobs.list_jobs()
    assert job.state == jobs.RUNNING and job.job_dir.parent == workspace / "workspace" / "jobs"
    # What the worker would report: its run (an existing one with 30 logged losses) and the plan.
    (job.job_dir / "report.json").write_text(json.dumps(
        {"pid": job.pid, "run_id": store.finished[0], "tracking_uri": store.uri, "state": "RUNNING",
         "step": 30, "total_steps": 60}))
    with open(job.log_path, "a") as log:
        log.write("step 30 loss 0.1333\n")
    app.run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Step"] == "30 / 60" and metrics["Loss"] == "0.1333" and metrics["Samples/s"] == "10.00"
    assert metrics["ETA"] != "—"
    assert "step 30 loss 0.1333" in app.code[0].value and "deepsynth train" in app.code[0].value
    assert len(app.get("plotly_chart")) == 1

    app.button(key=f"train.cancel.{job.job_id}").click().run(timeout=60)
    assert jobs.get_job(job.job_id).state == jobs.KILLED
    assert "KILLED" in texts(app) and app.dataframe[0].value["state"].tolist() == ["KILLED"]

    app.button(key=f"train.resume.{job.job_id}").click().run()
    assert fake_spawn.calls[1][4:] == ["--resume", store.finished[0], "--tracking-uri", store.uri]
    assert jobs.get_job(job.job_id).attempt == 2


def test_job_list_is_read_from_disk_by_a_fresh_session(open_page, datasets_setting, fake_spawn):
    job = jobs.start_job(*parse_train_args(["--dataset", str(datasets_setting), "--preset", "minimal"]), spawn=fake_spawn)
    app = open_page("train")  # a new session: nothing in session state
    table = app.dataframe[0].value
    assert table["job"].tolist() == [job.job_id] and "RUNNING" in table["state"][0]
    assert app.selectbox(key="train.job").value == job.job_id


def test_progress_helpers(tmp_path):
    assert job_progress.eta_seconds([1, 2, 3], [0, 1000, 2000], total=10) == 7.0
    # the pace comes from the last 20 steps only: an early slow stretch does not count
    steps = list(range(0, 41))
    times = [s * 10_000 for s in range(20)] + [190_000 + (s - 19) * 1000 for s in range(20, 41)]
    assert job_progress.eta_seconds(steps, times, total=50) == 10.0
    assert job_progress.eta_seconds([5], [0], total=10) is None
    assert job_progress.eta_seconds([1, 2], [0, 1000], total=None) is None
    log = tmp_path / "log.txt"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert job_progress.log_tail(log, lines=3) == "line 97\nline 98\nline 99"
    assert job_progress.log_tail(tmp_path / "missing.txt") == ""
