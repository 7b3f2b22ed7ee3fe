"""A whole job's plan (issue 22, item 3): every phase the worker runs is counted (start and load,
read, train, save, evaluate), the thread count is the one the job will take at the measured load,
and a busy machine's time is said beside the idle one; the worker's phase clock records the same
phases, and the panel's comparison reads them."""

import json

import pytest

from deepsynth.estimate import job_time, this_machine
from deepsynth.estimate.cpu_time import READ_SECONDS_PER_PAGE, run_time_on_cpu
from deepsynth.models.config import ModelConfig
from deepsynth.training.config import TrainConfig
from deepsynth.training.phase_clock import PhaseClock
from deepsynth.training.report import read_report, write_report

COUNTS = {"train": 20, "validation": 2, "test": 4}


def config(tmp_path, **overrides):
    (tmp_path / "deepsynth_dataset.json").write_text("{}")
    return TrainConfig(dataset=str(tmp_path), **{"max_steps": 8, "batch_size": 2, "eval_docs": 4, **overrides})


def test_every_phase_of_the_job_is_counted(tmp_path):
    train = config(tmp_path)
    plan = job_time.job_plan(train, COUNTS, threads=1)
    assert list(plan.seconds) == list(job_time.JOB_PHASES) == ["load", "read", "train", "save", "evaluate"]
    steps = run_time_on_cpu(train, 20, 1)
    assert plan.seconds["train"] == pytest.approx(8 * steps.step_seconds)
    assert plan.seconds["read"] == pytest.approx(20 * READ_SECONDS_PER_PAGE)
    assert plan.seconds["load"] >= job_time.STARTUP_S  # Python, torch and the model: was not counted
    # evaluation reads its 4 test pages and generates with the tuned and the base model
    assert plan.seconds["evaluate"] > 4 * READ_SECONDS_PER_PAGE + job_time.EVAL_FIXED_S
    no_base = job_time.job_plan(config(tmp_path, eval_base=False), COUNTS, threads=1)
    assert no_base.seconds["evaluate"] < plan.seconds["evaluate"]
    assert job_time.job_plan(config(tmp_path, eval_docs=0), COUNTS, 1).seconds["evaluate"] == 0
    # the old plan (training + reading only) was a fraction of the whole job
    assert plan.total_seconds > 1.5 * (plan.seconds["train"] + plan.seconds["read"])
    assert job_time.eval_documents(config(tmp_path, eval_docs=100), COUNTS) == 4  # capped by the split


def test_the_read_phase_is_a_hook_other_estimates_plug_into(tmp_path, monkeypatch):
    train = config(tmp_path)
    before = job_time.job_plan(train, COUNTS, threads=1)
    original = job_time.PHASE_ESTIMATORS["read"]
    monkeypatch.setitem(job_time.PHASE_ESTIMATORS, "read", lambda c, job: original(c, job) + 2.0 * job.train_docs)
    after = job_time.job_plan(train, COUNTS, threads=1)
    assert after.seconds["read"] == pytest.approx(before.seconds["read"] + 40.0)


def test_the_plan_says_its_threads_and_the_load(tmp_path):
    train = config(tmp_path)
    cpu = this_machine.Machine("cpu", 2)
    quiet = this_machine.run_here(train, COUNTS, cpu, load_average=0.1)
    assert "2 torch threads" in quiet.summary and "load average 0.1" in quiet.summary
    assert "at the load measured now" not in quiet.summary
    busy = this_machine.run_here(train, COUNTS, cpu, load_average=6.0)
    # the job takes one thread when other work keeps both cores busy (training.hardware.choose_threads)
    assert "(1 torch thread," in busy.summary and busy.plan.threads == 1
    assert "at the load measured now about" in busy.summary
    assert this_machine.busy_factor(1, 2, 6.0) == pytest.approx(3.5)
    pinned = this_machine.run_here(config(tmp_path, threads=2), COUNTS, cpu, load_average=6.0)
    assert "2 torch threads, as set under All settings" in pinned.summary
    assert "start and load the model" in quiet.phases and "evaluate" in quiet.phases


def test_the_phase_clock_records_what_the_panel_compares(tmp_path):
    clock = PhaseClock(started_at=0.0)  # `load` from the process start
    with clock.phase("read"):
        pass
    clock.start("train")
    clock.stop()

    class Record:
        def __init__(self):
            self.logged = {}

        def metrics(self, metrics, step, flush=False):
            self.logged.update(metrics)

        def report(self, **fields):
            write_report(tmp_path, **fields)

    record = Record()
    clock.publish(record)
    assert {"time/load_s", "time/read_s", "time/train_s", "time/train_cpu_s"} <= set(record.logged)
    report = read_report(tmp_path)
    assert set(report["phase_seconds"]) == {"load", "read", "train"}
    with pytest.raises(ValueError, match="unknown phase"):
        clock.start("dance")
        clock.stop()
    plan = job_time.job_plan(config(tmp_path), COUNTS, threads=1)
    rows = job_time.compare_phases(plan, {"load": 20.0, "read": 9.0, "train": 8.0}, {"train": 15.0})
    by_phase = {row.phase: row for row in rows}
    assert by_phase["evaluate"].actual_s is None and by_phase["train"].cpu_s == 15.0
    assert by_phase["total"].actual_s == pytest.approx(37.0)
    assert by_phase["read"].ratio == pytest.approx(9.0 / plan.seconds["read"])
    json.dumps(report)


def test_a_model_that_cannot_load_here_is_named_before_a_job_starts(tmp_path):
    from deepsynth.estimate.trainable import missing_to_train

    assert missing_to_train("default") is None and missing_to_train("tiny") is None
    assert "DeepSeek-OCR-2 model folder under workspace/models/" in missing_to_train("deepseek-ocr")
    assert "train `default` instead" in missing_to_train("smollm2-135m")
    assert "no such folder" in missing_to_train(str(tmp_path / "gone"))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert "no weights" in missing_to_train(str(folder))
    (folder / "model.safetensors").write_bytes(b"")
    assert missing_to_train(str(folder)) is None
    (folder / "config.json").write_text(json.dumps({"model_type": "x", "auto_map": {"AutoModel": "m.M"}}))
    assert "--trust-remote-code" in missing_to_train(str(folder))
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2_vl", "vision_config": {}}))
    assert "preprocessor_config.json" in missing_to_train(str(folder))
    here = this_machine.run_here(config(tmp_path, model=ModelConfig(name="deepseek-ocr")), COUNTS,
                                 this_machine.Machine("cpu", 2))
    assert here.problems and "cannot be trained on this machine" in here.problems[0]
