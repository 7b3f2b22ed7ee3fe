"""How a job's progress reads: one step figure, states in words, history, a log without noise."""

from types import SimpleNamespace

from deepsynth.jobs import progress

# What a real default-model job's log held (dashboard walk-through and a run here): carriage-return
# progress bars, transformers' weight loading, the profiler's probes, a FutureWarning, mlflow INFO.
NOISY_LOG = (
    "$ python -m deepsynth train --config /w/jobs/j/train_config.json\n"
    "2026/11/28 17:37:57 INFO mlflow.store.db.utils: Creating initial MLflow database tables...\n"
    "MLflow run f7b50ea4859f45159f21b33b594a7c0a\n"
    "Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'.\n"
    + "".join("Loading weights:   0%|          | 0/272 [00:00<?, ?it/s]Loading weights: 100%|██████████| "
              "272/272 [00:00<00:00, 10040.14it/s]\n" for _ in range(30))
    + "/venv/lib/python3.11/site-packages/transformers/modeling_utils.py:3303: FutureWarning: "
      "`is_gradient_checkpointing` is deprecated\n"
    "  warnings.warn(\n"
    "reading train pages:   0%|          | 0/32 [00:00<?, ?doc/s]\rreading train pages: 100%|██████████| "
    "32/32 [00:14<00:00,  2.29doc/s]\n"
    "step 1/10 loss 3.1243 lr 2.00e-05\n"
    "USDT:2026-11-28 17:39:51 22811:22811 SyncActivityProfilerHandler.cpp:52] profiler_start\n"
    "USDT:2026-11-28 17:40:06 22811:22811 SyncActivityProfilerHandler.cpp:59] profiler_stop\n"
    "step 2/10 loss 3.9036 lr 4.00e-05\n"
    "Traceback (most recent call last):\n"
    "ValueError: something real\n"
    "deepsynth train: error: cancelled by SIGTERM\n"
)


def test_the_log_tail_drops_progress_bars_and_library_noise(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text(NOISY_LOG)
    clean = progress.log_tail(log)
    assert clean.splitlines() == [
        "$ python -m deepsynth train --config /w/jobs/j/train_config.json",
        "MLflow run f7b50ea4859f45159f21b33b594a7c0a",
        "step 1/10 loss 3.1243 lr 2.00e-05",
        "step 2/10 loss 3.9036 lr 4.00e-05",
        "Traceback (most recent call last):",
        "ValueError: something real",
        "deepsynth train: cancelled by SIGTERM (a cancel: resume continues from the last checkpoint)",
    ]
    raw = progress.log_tail(log, lines=100, clean=False)
    assert "Loading weights" in raw and "USDT:" in raw  # the whole log is still there when asked


def test_a_progress_bar_still_moving_is_the_last_line():
    text = "step 10/10 loss 2.1\nreading validation pages:   0%|   | 0/4 [00:00<?]\rreading validation pages:  50%|█ | 2/4 [00:01<00:01]"
    assert progress.clean_log(text)[-1] == "reading validation pages:  50%|█ | 2/4 [00:01<00:01]"
    assert progress.clean_log(text + "\rreading validation pages: 100%|██| 4/4 [00:02<00:00]\nevaluated")[-1] == "evaluated"


def test_one_step_figure_and_never_none():
    assert progress.current_step(2, [1, 2, 3]) == 3  # the metric history is ahead of report.json
    assert progress.current_step(5, [1, 2]) == 5
    assert progress.current_step(None, []) is None
    assert progress.step_text(3, 10) == "3 / 10"
    assert progress.step_text(None, 10) == "— / 10"
    assert progress.step_text(None, None) == "—"


def test_states_in_words_a_cancel_is_not_a_failure():
    assert progress.state_text("KILLED", cancelled_by_user=True) == "Cancelled by you"
    assert progress.state_text("KILLED") == "Stopped"
    assert progress.state_text("FINISHED") == "Finished"
    assert progress.state_text("QUEUED").startswith("Queued")


def test_history_reads_as_information():
    job = SimpleNamespace(started_at=1795887468.0, resumed_at=(1795887900.0,),
                          past_attempts=({"state": "KILLED", "step": 5, "by_user": True, "error": None},))
    lines = progress.history_lines(job)
    assert lines[0].startswith("Started ") and lines[1] == "Cancelled by you at step 5"
    assert lines[2].startswith("Resumed ") and len(lines) == 3


def test_memory_peaks_read_from_the_report_and_worded_per_phase():
    from deepsynth.jobs.lifecycle import _memory_peaks
    from deepsynth.jobs.progress import memory_text

    report = {"memory_peaks": {"load": 805_490_688, "read": 796_946_432, "since_start": False,
                               "train": 1_620_000_000}}  # report.json keeps its keys sorted
    peaks = _memory_peaks(report)
    assert peaks == {"load": 805_490_688, "read": 796_946_432, "train": 1_620_000_000}
    assert memory_text(peaks) == "load 0.81 GB · read 0.80 GB · train 1.62 GB"
    assert memory_text({"evaluate": 1_750_000_000, "load": 805_490_688}) == "load 0.81 GB · evaluate 1.75 GB"
    assert _memory_peaks({}) is None and memory_text(None) == ""
