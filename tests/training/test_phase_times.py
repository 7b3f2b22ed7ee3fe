"""A job records the seconds of each phase it ran (issue 22, item 3): report.json `phase_seconds`
and `phase_cpu_seconds` (what the Train page's panel compares with the plan) and metrics
`time/<phase>_s`, with the torch threads it used."""

from deepsynth.estimate.job_time import JOB_PHASES
from deepsynth.tracking import store
from deepsynth.training.report import ENV_JOB_DIR, read_report
from deepsynth.training.worker import train


def test_a_job_reports_seconds_for_every_phase_it_ran(tiny_config, mlflow_tracking_uri, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_JOB_DIR, str(tmp_path))
    run_id = train(tiny_config(max_steps=2), progress=False)
    report = read_report(tmp_path)
    assert set(report["phase_seconds"]) == set(JOB_PHASES)  # load, read, train, save, evaluate
    assert all(seconds >= 0 for seconds in report["phase_seconds"].values())
    assert report["phase_seconds"]["load"] > 0  # from the process start: imports count
    assert set(report["phase_cpu_seconds"]) == set(JOB_PHASES)
    assert report["threads"] >= 1
    metrics = store.client_for(mlflow_tracking_uri).get_run(run_id).data.metrics
    assert {f"time/{phase}_s" for phase in JOB_PHASES} <= set(metrics)
