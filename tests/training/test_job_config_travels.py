"""A job started the way the dashboard starts one (`jobs.start_job(TrainConfig)`) trains with
EVERY field of its config, including those the old flag-based hand-over could not express."""

from deepsynth import jobs
from deepsynth.tracking.store import client_for


def test_a_dashboard_job_trains_with_fields_that_had_no_flag(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    config = tiny_config(weight_decay=0.03, keep_checkpoints=1, eval_batch_size=2, max_steps=3, eval_docs=2)
    job = jobs.wait(jobs.start_job(config).job_id, timeout_s=300)
    assert job.state == jobs.FINISHED, job.log_path.read_text()[-3000:]
    params = client_for(config.tracking_uri).get_run(job.run_id).data.params
    assert (params["weight_decay"], params["keep_checkpoints"], params["eval_batch_size"]) == ("0.03", "1", "2")
    run_dir = tmp_path / "runs" / job.run_id
    assert len(list((run_dir / "checkpoints").glob("step-*"))) == 1  # keep_checkpoints=1 was applied
