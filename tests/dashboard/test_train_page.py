"""Train page: a form that keeps intent (on disk per user, every TrainConfig field, automatic warm-up
and checkpoints for short runs, `custom` as soon as LoRA values differ), a warning before a run that
will be slow here, and honest job state (cancelled by you, history, one step figure, scores)."""

import json
import shutil
import sys

from dashboard_testing import element_after, load_ui, started_config, texts

from deepsynth import jobs
from deepsynth.estimate.gpus import local_device
from deepsynth.estimate.this_machine import Machine
from deepsynth.jobs.progress import clock
from deepsynth.tracking.store import RunLogger
from deepsynth.training.cli import parse_train_args
from deepsynth.training.config import TrainConfig
from deepsynth.training.step_plan import CHECKPOINT_CAP, resolve_automatic

CPU = Machine("cpu", 2)
FIELD_KEY = "train.cfg.{}"


def open_train(open_page, fake_spawn, machine=CPU, load_average=0.0):
    return open_page("train", **{"deepsynth.spawn": fake_spawn, "deepsynth.machine": machine,
                                 "deepsynth.load_average": load_average})


def number(app, path):
    return app.number_input(key=FIELD_KEY.format(path))


def test_invalid_settings_show_errors_next_to_their_fields(open_page, datasets_setting, fake_spawn):
    app = open_train(open_page, fake_spawn)
    number(app, "batch_size").set_value(0)
    number(app, "learning_rate").set_value(-1.0)
    app.text_input(key="train.cfg.model.name").set_value("").run()
    error = element_after(app, "train.cfg.learning_rate")
    assert error.type == "error"
    assert "**batch_size**" in error.value and "**learning_rate**" in error.value
    assert "**model.name**: must not be empty" in error.value
    assert "train.start" not in [b.key for b in app.button]  # nothing to start from invalid settings
    assert not fake_spawn.calls


def test_the_form_survives_a_reload(open_page, datasets_setting, fake_spawn, workspace):
    app = open_train(open_page, fake_spawn)
    number(app, "max_steps").set_value(10)
    number(app, "eval_docs").set_value(4)
    app.text_input(key="train.cfg.run_name").set_value("keep-me")
    app.selectbox(key="train.preset").set_value("r32").run()
    reloaded = open_train(open_page, fake_spawn)  # a new session: what a browser reload starts
    assert number(reloaded, "max_steps").value == 10 and number(reloaded, "eval_docs").value == 4
    assert reloaded.text_input(key="train.cfg.run_name").value == "keep-me"
    assert reloaded.selectbox(key="train.preset").value == "r32" and number(reloaded, "lora.rank").value == 32
    assert (workspace / "workspace" / "dashboard-forms" / "local.json").is_file()  # on disk, per user


def test_the_dataset_defaults_to_the_last_one_used(open_page, datasets_setting, fake_spawn):
    newer = datasets_setting.parent / "newer-copy"
    shutil.copytree(datasets_setting, newer)
    meta = json.loads((newer / "deepsynth_dataset.json").read_text())
    meta["created"] = "2999-01-01T00:00:00+00:00"  # the newest, so the old default would pick it
    (newer / "deepsynth_dataset.json").write_text(json.dumps(meta))
    try:
        app = open_train(open_page, fake_spawn)
        assert app.selectbox(key="train.dataset").value == str(newer)
        app.selectbox(key="train.dataset").set_value(str(datasets_setting)).run()
        assert open_train(open_page, fake_spawn).selectbox(key="train.dataset").value == str(datasets_setting)
    finally:
        shutil.rmtree(newer)


def test_every_train_config_field_is_on_the_page_and_edits_make_it_custom(open_page, datasets_setting, fake_spawn):
    form_fields = load_ui("config_form").form_fields
    app = open_train(open_page, fake_spawn)
    keys = {widget.key for kind in ("number_input", "text_input", "selectbox", "checkbox")
            for widget in getattr(app, kind)}
    missing = [f.path for f in form_fields(TrainConfig) if f.path not in ("dataset", "preset")
               and FIELD_KEY.format(f.path) not in keys]
    assert missing == []
    assert app.number_input(key="train.cfg.weight_decay").proto.help.startswith("AdamW")  # the docstring
    number(app, "weight_decay").set_value(0.01)
    number(app, "model.max_source_tokens").set_value(128)
    app.selectbox(key="train.cfg.schedule").set_value("linear")
    number(app, "lora.rank").set_value(24).run()
    shown = texts(app)
    assert "LoRA: **custom** (started from standard; changed: rank)" in shown
    assert "(preset **custom**)" in shown  # the command preview says so too
    app.button(key="train.start").click().run()
    started = started_config(fake_spawn.calls[0])
    assert (started.weight_decay, started.model.max_source_tokens, started.schedule) == (0.01, 128, "linear")
    assert started.lora.rank == 24 and started.preset == "custom"


def test_warmup_and_checkpoints_follow_a_short_run(open_page, datasets_setting, fake_spawn):
    app = open_train(open_page, fake_spawn)
    assert number(app, "warmup_steps").value is None  # empty: automatic
    number(app, "max_steps").set_value(10).run()
    assert "warmup 1 · checkpoint every 2" in texts(app)
    app.button(key="train.start").click().run()
    started = started_config(fake_spawn.calls[0])
    assert (started.warmup_steps, started.checkpoint_every) == ("auto", "auto")  # the job's file says auto
    resolved = resolve_automatic(started)  # ...which the run resolves (training.step_plan), as the page showed
    assert (resolved.max_steps, resolved.warmup_steps, resolved.checkpoint_every) == (10, 1, 2)
    number(app, "max_steps").set_value(1000)
    number(app, "warmup_steps").set_value(30).run()
    app.button(key="train.start").click().run()
    started = resolve_automatic(started_config(fake_spawn.calls[1]))
    assert started.warmup_steps == 30  # typed: kept
    assert started.checkpoint_every == CHECKPOINT_CAP  # long run: the longest automatic interval


def test_qlora_on_this_cpu_warns_with_the_estimated_time(open_page, datasets_setting, fake_spawn):
    app = open_train(open_page, fake_spawn)
    assert not app.warning
    assert "for the whole job on an idle CPU" in texts(app) and "(2 torch threads" in texts(app)  # this machine
    app.selectbox(key="train.preset").set_value("qlora_4bit").run()
    (warning,) = [w.value for w in app.warning]
    assert "nf4 quantization on a CPU" in warning and (" s" in warning or "min" in warning)
    gpu = Machine("cuda", 16, (local_device("GPU 0", 80 * 2**30),))
    on_gpu = open_train(open_page, fake_spawn, machine=gpu)
    assert not on_gpu.warning and "on GPU 0" in texts(on_gpu)
    app.selectbox(key="train.cfg.device").set_value("cuda").run()
    assert "this machine has no GPU" in app.error[0].value and "train.start" not in [b.key for b in app.button]


def test_a_cancel_you_asked_for_then_a_resume_read_as_information(open_page, datasets_setting, fake_spawn,
                                                                  store, workspace):
    app = open_train(open_page, fake_spawn)
    number(app, "max_steps").set_value(60)
    number(app, "eval_docs").set_value(0)
    app.text_input(key="train.cfg.run_name").set_value("from-dashboard").run()
    assert "Runs as `deepsynth train --config train_config.json`" in texts(app)
    app.button(key="train.start").click().run()
    assert not app.exception and "Started job" in app.success[0].value
    argv = fake_spawn.calls[0]
    assert argv[:5] == [sys.executable, "-m", "deepsynth", "train", "--config"]
    started = started_config(argv)
    assert started.dataset == str(datasets_setting) and started.max_steps == 60
    assert started.run_name == "from-dashboard" and started.tracking_uri == store.uri

    (job,) = jobs.list_jobs()
    # What the worker would report: its run (30 logged losses) and the plan; report.json lags behind
    (job.job_dir / "report.json").write_text(json.dumps(
        {"pid": job.pid, "run_id": store.finished[0], "tracking_uri": store.uri, "state": "RUNNING",
         "step": 28, "total_steps": 60}))
    with open(job.log_path, "a") as log:
        log.write("Loading weights: 100%|██████████| 272/272 [00:00<00:00, 10040.14it/s]\n"
                  "USDT:2026-11-28 17:39:51 22811:22811 SyncActivityProfilerHandler.cpp:52] profiler_start\n"
                  "step 30 loss 0.1333\n")
    app.run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Step"] == "30 / 60" and metrics["Loss"] == "0.1333" and metrics["Samples/s"] == "10.00"
    assert "**Running** · step 30 / 60" in texts(app)  # the header says what the metric says
    assert app.dataframe[0].value["step"].tolist() == ["30 / 60"]  # and so does the table
    assert metrics["ETA"] != "—"
    log_text = app.code[0].value
    assert "step 30 loss 0.1333" in log_text and "deepsynth train" in log_text
    assert "Loading weights" not in log_text and "USDT" not in log_text
    assert app.get("download_button")  # the whole log, unfiltered

    app.button(key=f"train.cancel.{job.job_id}").click().run(timeout=60)
    assert jobs.get_job(job.job_id).state == jobs.KILLED
    assert not app.error  # a cancel you asked for is not an error
    assert "**Cancelled by you**" in texts(app) and "Cancelled by you at step" in texts(app)
    assert app.dataframe[0].value["state"].tolist() == ["Cancelled by you"]

    app.button(key=f"train.resume.{job.job_id}").click().run()
    assert fake_spawn.calls[1][4:] == ["--resume", store.finished[0], "--tracking-uri", store.uri]
    resumed = jobs.get_job(job.job_id)
    assert resumed.attempt == 2
    table = app.dataframe[0].value
    assert table["attempts"].tolist() == [2] and table["resumed"].tolist()[0]
    assert table["started"].tolist() == [clock(resumed.started_at)]  # the first start, not the resume
    assert "Cancelled by you at step" in texts(app)  # the history, as a caption


def test_a_finished_job_shows_its_scores_samples_and_a_single_point_curve(open_page, datasets_setting, fake_spawn,
                                                                           tmp_path):
    uri = f"sqlite:///{tmp_path / 'own-mlflow.db'}"  # its own store: the shared one's newest runs stay the same
    logger = RunLogger.start("dashboard-tests", run_name="one-step", uri=uri)
    logger.log_metrics({"train/loss": 2.5, "train/samples_per_s": 1.5}, 1, flush=True)
    logger.log_dict({"split": "validation", "docs": 4, "rouge": {"tuned": {"rouge1": 40.0, "rouge2": 30.0,
                     "rougeL": 38.4}, "base": {"rouge1": 29.0, "rouge2": 22.0, "rougeL": 28.7}}}, "eval/rouge.json")
    logger.log_text("id,reference,tuned_prediction,tuned_rougeL,base_prediction,base_rougeL\n"
                    "Angkor Wat,Buddhist temple complex in Cambodia,A Khmer temple complex in Cambodia,57.1,"
                    "A testament to history,0.0\n", "eval/predictions.csv")
    logger.finish()
    job = jobs.start_job(*parse_train_args(["--dataset", str(datasets_setting), "--max-steps", "1"]), spawn=fake_spawn)
    fake_spawn.processes[-1].kill()
    fake_spawn.processes[-1].wait()
    (job.job_dir / "report.json").write_text(json.dumps(
        {"pid": job.pid, "run_id": logger.run_id, "tracking_uri": uri, "state": "FINISHED", "step": 1,
         "total_steps": 1}))
    app = open_train(open_page, fake_spawn)
    assert "**Finished** · step 1 / 1" in texts(app)
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert "markers" in figure["data"][0]["mode"]  # one point is drawn as a point
    _jobs, scores, samples = (frame.value for frame in app.dataframe)
    assert scores.set_index("model").loc["tuned (adapter)", "rougeL"] == 38.4
    assert samples["tuned_prediction"].tolist() == ["A Khmer temple complex in Cambodia"]


def test_a_job_its_time_budget_stopped_says_so_beside_its_step(open_page, datasets_setting, fake_spawn, store):
    """16 / 60 alone reads like a job that broke off; a time budget that ran out is said in words."""
    job = jobs.start_job(*parse_train_args(["--dataset", str(datasets_setting), "--max-steps", "60",
                                            "--time-budget", "75"]), spawn=fake_spawn)
    fake_spawn.processes[-1].kill()
    fake_spawn.processes[-1].wait()
    (job.job_dir / "report.json").write_text(json.dumps(
        {"pid": job.pid, "run_id": None, "tracking_uri": store.uri, "state": "FINISHED", "step": 16,
         "total_steps": 60, "stopped_early": "its 75 s time budget ran out"}))
    app = open_train(open_page, fake_spawn)
    assert "Finished at step 16 / 60: its 75 s time budget ran out" in texts(app)
    assert app.dataframe[0].value["step"].tolist() == ["16 / 60 (time budget)"]


def test_job_list_is_read_from_disk_by_a_fresh_session(open_page, datasets_setting, fake_spawn):
    job = jobs.start_job(*parse_train_args(["--dataset", str(datasets_setting), "--preset", "minimal"]), spawn=fake_spawn)
    app = open_page("train")  # a new session: nothing in session state
    table = app.dataframe[0].value
    assert table["job"].tolist() == [job.job_id] and table["state"][0] == "Running"
    assert table["step"][0] == "—"  # never "None"
    assert app.selectbox(key="train.job").value == job.job_id
