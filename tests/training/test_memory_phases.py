"""Memory of a run (issue 22, item 14): the job report and MLflow carry the peak resident memory of
each phase (load, read, train, evaluate); a CPU run trains with the decoder's activations
checkpointed, which leaves its losses exactly as they were."""

import pytest

from deepsynth.tracking import store
from deepsynth.training.phase_memory import PHASES, PhaseMemory
from deepsynth.training.worker import train


def test_the_job_report_shows_peak_memory_per_phase(tiny_config, mlflow_tracking_uri, tmp_path, monkeypatch):
    from deepsynth.training.report import ENV_JOB_DIR, read_report

    monkeypatch.setenv(ENV_JOB_DIR, str(tmp_path))
    run_id = train(tiny_config(max_steps=2, eval_docs=2, eval_batch_size=2, measure_memory=False), progress=False)
    peaks = read_report(tmp_path)["memory_peaks"]
    assert peaks["since_start"] is False  # Linux: each phase's own peak, not the process's lifetime one
    assert {phase for phase in peaks if phase != "since_start"} == set(PHASES)
    assert all(100e6 < peaks[phase] < 8e9 for phase in PHASES)  # torch alone is ~0.3 GB resident
    metrics = store.client_for(mlflow_tracking_uri).get_run(run_id).data.metrics
    assert {metrics[f"memory/peak_rss_{phase}_bytes"] for phase in PHASES} == {float(peaks[p]) for p in PHASES}


def test_a_phase_peak_is_that_phases_own():
    """The resident high-water mark is reset when a phase begins: a large allocation freed in one
    phase does not show up as the next phase's peak."""
    import numpy

    reported = {}
    phases = PhaseMemory(lambda phase, details: reported.update({phase: details["peak_rss_bytes"]}))
    phases.begin("read")
    block = numpy.ones(400_000_000 // 8)  # 400 MB, touched
    del block
    phases.begin("train")
    phases.end()
    assert reported["read"] - reported["train"] > 300e6


def test_cpu_training_checkpoints_activations_with_the_same_losses(tiny_config, mlflow_tracking_uri, monkeypatch,
                                                                   captured_models):
    import deepsynth.training.activations as activations

    client = store.client_for(mlflow_tracking_uri)

    def losses(run_id):
        return [m.value for m in sorted(client.get_metric_history(run_id, "train/loss"), key=lambda m: m.step)]

    config = tiny_config(max_steps=4, eval_docs=0, measure_memory=False, device="cpu")
    checkpointed = train(config, progress=False)
    assert captured_models[-1].decoder.get_base_model().is_activation_checkpointing
    assert client.get_run(checkpointed).data.tags["deepsynth.activation_checkpointing"] == "on"
    monkeypatch.setattr(activations, "checkpoints_activations", lambda device: False)
    plain = train(config, progress=False)
    assert not captured_models[-1].decoder.get_base_model().is_activation_checkpointing
    assert losses(checkpointed) == losses(plain) and len(losses(plain)) == 4


def test_the_queue_estimates_the_memory_the_worker_will_use(tmp_path, monkeypatch):
    """The queue's CPU figure counts checkpointed activations, as the worker trains, plus the
    process's libraries; without checkpointing the same settings need more."""
    import deepsynth.training.activations as activations
    from deepsynth.training.config import TrainConfig
    from deepsynth.training.gpu_queue import CPU_PROCESS_BYTES, estimated_need

    (tmp_path / "deepsynth_dataset.json").write_text("{}")
    config = TrainConfig(dataset=str(tmp_path))
    checkpointed = estimated_need(config, device="cpu")
    monkeypatch.setattr(activations, "checkpoints_activations", lambda device: False)
    plain = estimated_need(config, device="cpu")
    assert CPU_PROCESS_BYTES + 0.5e9 < checkpointed < plain  # the weights alone are 0.54 GB
