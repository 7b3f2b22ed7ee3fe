"""Settings files do not run code (issue 21, item 5).

`model.trust_remote_code: true` in a `train --config` or `sweep --config` file, a job folder or a
queue entry used to make a model folder's own Python run (its `auto_map` code wrote a marker
file). Remote code is allowed only by the flag of the person running the command, at that
moment: each attack below runs for real and checks that the marker was never written and that
the refusal says which flag to type. `false`, which every saved train_config.json holds, still
loads."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from deepsynth.cli import main
from deepsynth.configuration import ConfigError, to_dict

FLAG = "--trust-remote-code"


def _config_file(path, dataset, model_folder, trust=True, **fields):
    data = {"dataset": dataset, "model": {"name": str(model_folder), "trust_remote_code": trust},
            "max_steps": 1, "batch_size": 1, "eval_docs": 0, "threads": 1, "system_metrics": False,
            "measure_memory": False, "experiment": "security-tests", **fields}
    path.write_text(json.dumps(data))
    return path


def test_a_train_config_file_cannot_turn_remote_code_on(workspace, small_dataset, evil_model, capsys):
    folder, marker = evil_model
    config = _config_file(workspace / "run.json", small_dataset, folder)
    assert main(["train", "--config", str(config)]) == 2
    assert not marker.exists()  # the attack: the model folder's code never ran
    error = capsys.readouterr().err
    assert "model.trust_remote_code (in " in error and FLAG in error  # says which flag to type instead


def test_a_sweep_config_file_cannot_turn_remote_code_on(workspace, small_dataset, evil_model, capsys):
    from deepsynth.jobs import queue

    folder, marker = evil_model
    config = _config_file(workspace / "sweep.json", small_dataset, folder)
    assert main(["sweep", "--config", str(config), "--grid", "learning_rate=1e-3,2e-3", "--yes"]) == 2
    error = capsys.readouterr().err
    assert "model.trust_remote_code" in error and FLAG in error
    assert queue.list_queued() == [] and not marker.exists()


def test_a_job_folder_file_cannot_turn_it_on_and_a_typed_flag_travels_as_a_flag(workspace, small_dataset,
                                                                              evil_model):
    from deepsynth import jobs
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.cli import parse_train_args
    from deepsynth.training.config import TrainConfig

    folder, marker = evil_model
    edited = _config_file(workspace / "train_config.json", small_dataset, folder)  # a job folder's file, edited
    with pytest.raises(ConfigError) as refused:
        parse_train_args(["--config", str(edited)])
    assert FLAG in str(refused.value)

    calls = []

    def spawn(argv, **kwargs):  # records what the job would run; starts a harmless process
        calls.append(list(argv))
        return subprocess.Popen(["sleep", "30"], **kwargs)

    typed = TrainConfig(dataset=small_dataset, model=ModelConfig(name=str(folder), trust_remote_code=True))
    job = jobs.start_job(typed, spawn=spawn)  # the user typed `jobs start --trust-remote-code`
    jobs.cancel(job.job_id, timeout_s=5)
    written = json.loads((job.job_dir / "train_config.json").read_text())
    assert written["model"]["trust_remote_code"] is False  # the file never carries it
    argv = calls[0]
    assert FLAG in argv  # the user's own choice, on the command line of the process it starts
    assert parse_train_args(argv[argv.index("train") + 1:])[0].model.trust_remote_code is True
    assert not marker.exists()


@pytest.mark.slow
def test_a_queue_entry_cannot_turn_remote_code_on(workspace, small_dataset, evil_model):
    """The queue runner starts a real `deepsynth train` for what it starts: on the old code the
    hand-written entry below ran the model folder's code inside that job."""
    from deepsynth import jobs
    from deepsynth.jobs import queue
    from deepsynth.jobs.queue_runner import QueueRunner
    from queue_helpers import no_gpu  # tests/ is on sys.path

    folder, marker = evil_model
    data = json.loads(_config_file(workspace / "entry.json", small_dataset, folder).read_text())
    job_id = queue.new_job_id()
    queue.add([{"job_id": job_id, "config": data, "nproc": 1, "sweep_id": "", "queued_at": time.time()}])
    QueueRunner(spawn=subprocess.Popen, probe=no_gpu).tick()
    for started in queue.snapshot().started:  # the old code started it: let it run to its end
        jobs.wait(started["job_id"], timeout_s=240)
    assert not marker.exists()
    (failed,) = queue.failed_to_start()
    assert failed["job_id"] == job_id and "trust_remote_code" in failed["error"] and FLAG in failed["error"]


def test_queueing_a_config_that_runs_remote_code_is_refused_when_queued(workspace, small_dataset, evil_model):
    from deepsynth.jobs import queue
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig

    folder, _ = evil_model
    config = TrainConfig(dataset=small_dataset, model=ModelConfig(name=str(folder), trust_remote_code=True))
    with pytest.raises(ConfigError) as refused:
        queue.entry_for(config)
    assert "model.trust_remote_code" in str(refused.value) and "start this job now" in str(refused.value)


def test_false_as_every_saved_file_holds_still_loads(workspace, small_dataset, tmp_path):
    from deepsynth.training.cli import parse_train_args
    from deepsynth.training.config import TrainConfig, load_train_config, save_train_config

    config = TrainConfig(dataset=small_dataset, max_steps=3)
    saved = save_train_config(config, tmp_path / "train_config.json")
    assert json.loads(saved.read_text())["model"]["trust_remote_code"] is False
    assert load_train_config(saved) == config  # what --resume reads
    assert parse_train_args(["--config", str(saved)])[0] == config
    old = tmp_path / "old.json"  # a file written before this change: the field spelled out as false
    old.write_text(json.dumps({**to_dict(config), "model": {**to_dict(config.model), "trust_remote_code": False}}))
    assert load_train_config(old) == config


def test_a_run_folder_edited_to_true_is_refused_on_resume(workspace, small_dataset, tmp_path):
    from deepsynth.training.config import TrainConfig, load_train_config

    edited = tmp_path / "train_config.json"
    data = to_dict(TrainConfig(dataset=small_dataset))
    data["model"]["trust_remote_code"] = True
    edited.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as refused:
        load_train_config(edited)
    assert FLAG in str(refused.value)


def test_no_dashboard_form_offers_it():
    from deepsynth.settings import FORM, settings_of
    from deepsynth.training.config import TrainConfig

    trust = {s.path: s for s in settings_of(TrainConfig)}["model.trust_remote_code"]
    assert not trust.allows(FORM)
