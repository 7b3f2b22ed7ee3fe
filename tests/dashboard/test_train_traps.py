"""Train and estimate page traps from the walk-through (issue 22, items 2, 3, 9, 10): a model that
cannot load here is never handed to a job; a job that failed before its first step offers no
Resume; the plan counts every phase and names its threads, and the panel compares each phase with
what the job took; the run name empties after a start; "Queue" is not both a button and a heading;
a run too short to move the scores says so; GPU time at the chosen precision's peak with a price
field on the page; the preset's document range agrees with the workload."""

import json

from dashboard_testing import texts

from deepsynth import jobs
from deepsynth.estimate import GPUS
from deepsynth.estimate.this_machine import Machine
from deepsynth.tracking.store import RunLogger
from deepsynth.training.cli import parse_train_args

CPU = Machine("cpu", 2)


def open_train(open_page, fake_spawn, load_average=0.0):
    return open_page("train", **{"deepsynth.spawn": fake_spawn, "deepsynth.machine": CPU,
                                 "deepsynth.load_average": load_average})


def finished_job(datasets_setting, fake_spawn, report: dict, flags=("--max-steps", "6")):
    job = jobs.start_job(*parse_train_args(["--dataset", str(datasets_setting), *flags]), spawn=fake_spawn)
    fake_spawn.processes[-1].kill()
    fake_spawn.processes[-1].wait()
    (job.job_dir / "report.json").write_text(json.dumps({"pid": job.pid, **report}))
    return job


# -- item 2: only models that can load here --------------------------------------------------------
def test_a_model_that_is_not_installed_is_estimated_but_not_handed_to_train(open_page, datasets_setting, fake_spawn):
    app = open_page("estimate", **{"deepsynth.machine": CPU})
    app.selectbox(key="estimate.model").set_value("deepseek-ocr").run()
    assert not app.exception
    assert "Estimate only: `deepseek-ocr` cannot be trained on this machine" in texts(app)
    assert app.button(key="estimate.use").disabled  # never handed over: the job would fail at once
    app.selectbox(key="estimate.model").set_value("default").run()
    assert not app.button(key="estimate.use").disabled and "Estimate only" not in texts(app)

    train = open_train(open_page, fake_spawn)
    train.text_input(key="train.cfg.model.name").set_value("deepseek-ocr").run()
    assert any("Model `deepseek-ocr` cannot be trained on this machine" in e.value for e in train.error)
    assert "train.start" not in [b.key for b in train.button]  # said before a job starts
    assert not fake_spawn.calls


def test_a_job_that_failed_before_its_first_step_offers_no_resume(open_page, datasets_setting, fake_spawn, store):
    job = finished_job(datasets_setting, fake_spawn, {
        "run_id": store.finished[0], "tracking_uri": store.uri, "state": "FAILED",
        "error": "model 'deepseek-ocr': no such folder (and not a hub id)"})
    app = open_train(open_page, fake_spawn)
    assert "no such folder" in app.error[0].value
    assert f"train.resume.{job.job_id}" not in [b.key for b in app.button]
    assert "failed before its first training step: there is nothing to resume" in texts(app)

    (job.job_dir / "report.json").write_text(json.dumps({  # one that trained a while, then failed
        "pid": job.pid, "run_id": store.finished[0], "tracking_uri": store.uri, "state": "FAILED", "step": 3,
        "error": "out of memory"}))
    app = open_train(open_page, fake_spawn)
    assert f"train.resume.{job.job_id}" in [b.key for b in app.button]


# -- item 3: the whole job, per phase ----------------------------------------------------------------
def test_the_plan_counts_every_phase_and_names_its_threads(open_page, datasets_setting, fake_spawn):
    app = open_train(open_page, fake_spawn, load_average=6.0)
    shown = texts(app)
    assert "for the whole job on an idle CPU" in shown
    assert "(1 torch thread, the job's own choice: 2 cores, load average 6.0 now)" in shown
    assert "at the load measured now about" in shown
    phases = next(c.value for c in app.caption if c.value.startswith("Phases:"))
    for label in ("start and load the model", "read the training pages", "train", "save the adapter", "evaluate"):
        assert label in phases
    quiet = open_train(open_page, fake_spawn, load_average=0.0)
    assert "(2 torch threads" in texts(quiet) and "at the load measured now" not in texts(quiet)


def test_a_finished_job_shows_estimated_vs_actual_per_phase(open_page, datasets_setting, fake_spawn, store):
    actual = {"load": 30.0, "read": 12.0, "train": 20.0, "save": 1.5, "evaluate": 25.0}
    job = finished_job(datasets_setting, fake_spawn, {
        "run_id": store.finished[0], "tracking_uri": store.uri, "state": "FINISHED", "step": 6, "total_steps": 6,
        "threads": 1, "phase_seconds": actual, "phase_cpu_seconds": {k: v * 0.9 for k, v in actual.items()}})
    app = open_train(open_page, fake_spawn)
    assert "**Time per phase**: estimated (idle machine, 1 torch thread) vs actual" in texts(app)
    table = next(frame.value for frame in app.dataframe if "actual / estimated" in frame.value.columns)
    assert table["phase"].tolist() == ["start and load the model", "read the training pages", "train",
                                       "save the adapter", "evaluate (read pages, generate)", "whole job"]
    assert table["actual"].tolist()[-1] == "88 s"  # 88.5 s in all
    assert all(cell != "—" for cell in table["actual / estimated"])
    assert job.job_id


# -- item 10: Train page traps ------------------------------------------------------------------------
def test_the_run_name_empties_after_a_start(open_page, datasets_setting, fake_spawn):
    app = open_train(open_page, fake_spawn)
    app.text_input(key="train.cfg.run_name").set_value("first-try").run()
    app.button(key="train.start").click().run()
    assert not app.exception
    assert "as run “first-try”; the run name field is empty again" in app.success[0].value
    assert app.text_input(key="train.cfg.run_name").value == ""
    app.button(key="train.start").click().run()  # the next start is a run of its own
    assert json.loads(open(fake_spawn.calls[0][5]).read())["run_name"] == "first-try"
    assert json.loads(open(fake_spawn.calls[1][5]).read())["run_name"] in ("", None)
    reloaded = open_train(open_page, fake_spawn)  # and a reload does not bring the used name back
    assert reloaded.text_input(key="train.cfg.run_name").value == ""


def test_queue_is_not_both_a_button_and_a_heading(open_page, datasets_setting, fake_spawn):
    app = open_train(open_page, fake_spawn)
    buttons = {b.label for b in app.button}
    headings = {h.value for h in app.subheader}
    assert "Add to the queue" in buttons
    assert not buttons & headings and "Queue" not in buttons


def test_a_run_too_short_to_move_the_scores_says_why(open_page, datasets_setting, fake_spawn, store):
    app = open_train(open_page, fake_spawn)
    app.number_input(key="train.cfg.max_steps").set_value(6).run()
    (hint,) = [i.value for i in app.info if "will probably not change the scores" in i.value]
    assert "6 steps at learning rate 0.0002" in hint and "at least about 20 steps" in hint
    app.number_input(key="train.cfg.max_steps").set_value(90).run()
    assert not [i for i in app.info if "will probably not change the scores" in i.value]

    # the finished run (its 30 logged steps) says why its tuned scores may equal the base's
    finished_job(datasets_setting, fake_spawn, {"run_id": store.finished[0], "tracking_uri": store.uri,
                                                "state": "FINISHED", "step": 30, "total_steps": 30},
                 flags=("--max-steps", "30", "--learning-rate", "1e-5"))
    app = open_train(open_page, fake_spawn)
    assert "30 steps at learning rate 1e-05 will probably not change the scores" in texts(app)


def test_the_finished_job_panel_prints_no_download_progress(open_page, datasets_setting, fake_spawn, tmp_path, capfd):
    uri = f"sqlite:///{tmp_path / 'own-mlflow.db'}"
    logger = RunLogger.start("dashboard-tests", run_name="scored", uri=uri)
    logger.log_metrics({"train/loss": 2.5}, 1, flush=True)
    logger.log_dict({"split": "validation", "docs": 4, "rouge": {"tuned": {"rougeL": 38.4}, "base": {"rougeL": 28.7}}},
                    "eval/rouge.json")
    logger.log_text("id,reference,tuned_prediction\na,b,c\n", "eval/predictions.csv")
    logger.finish()
    finished_job(datasets_setting, fake_spawn, {"run_id": logger.run_id, "tracking_uri": uri, "state": "FINISHED",
                                                "step": 1, "total_steps": 1}, flags=("--max-steps", "1"))
    capfd.readouterr()
    app = open_train(open_page, fake_spawn)
    assert "**Scores** on 4 validation documents" in texts(app)
    assert "Downloading artifacts" not in capfd.readouterr().err  # the dashboard's terminal stays quiet


# -- item 9: estimate labels ----------------------------------------------------------------------------
def test_gpu_time_uses_the_chosen_precision_and_the_price_field(open_page):
    app = open_page("estimate", **{"deepsynth.machine": CPU})
    a100 = next(g for g in GPUS if g.name == "A100 80GB")
    assert app.number_input(key="estimate.price").value == a100.price_per_hour  # the GPU's default price
    line = next(m.value for m in app.markdown if m.value.startswith("On **A100 80GB**"))
    assert "float32 peak of 19.5 TFLOPS" in line  # float32 runs on CUDA cores, not BF16 tensor cores
    assert "editable hourly price" not in line and "per hour" in line
    app.selectbox(key="estimate.dtype").set_value("bfloat16").run()
    line = next(m.value for m in app.markdown if m.value.startswith("On **A100 80GB**"))
    assert "bfloat16 peak of 312 TFLOPS" in line
    app.number_input(key="estimate.price").set_value(10.0).run()
    line = next(m.value for m in app.markdown if m.value.startswith("On **A100 80GB**"))
    assert "at $10.00 per hour" in line
    app.selectbox(key="estimate.gpu").set_value("H100 80GB").run()
    assert app.number_input(key="estimate.price").value == next(g for g in GPUS if g.name == "H100 80GB").price_per_hour


def test_preset_document_ranges_agree_with_the_workload(open_page):
    app = open_page("estimate", **{"deepsynth.machine": CPU})
    assert app.number_input(key="estimate.num_documents").value == 1000
    shown = texts(app)
    assert "(<= 50 documents)" not in shown and "up to 5,000 training documents" in shown
    assert "more than **standard** is meant for" not in shown  # 1,000 documents suit the default preset
    app.selectbox(key="estimate.preset").set_value("minimal").run()
    assert "1,000 training documents: more than **minimal** is meant for (up to 100); **standard** covers" in texts(app)
