"""Sweeps end to end with stand-in workers: what gets queued, one dataset per render setting from
the same documents, resume of a half-done sweep, the parent run's summary, and bad input that
fails before anything is queued. (A real tiny-model sweep runs in test_sweep_end_to_end.py.)"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from queue_helpers import no_gpu, release, stand_in_spawn, wait_for

from deepsynth import jobs
from deepsynth.configuration import ConfigError
from deepsynth.errors import InputError
from deepsynth.jobs import queue
from deepsynth.jobs.queue_runner import QueueRunner
from deepsynth.sweeps import (
    finish_sweep, load_record, parse_axes, plan_sweep, point_statuses, progress_counts, resume_sweep, start_sweep)
from deepsynth.sweeps.parent_run import PARENT_TAG
from deepsynth.tracking import queries


def test_a_grid_sweep_queues_one_job_per_point_with_its_values_and_a_parent_run(base_config, mlflow_tracking_uri):
    plan = plan_sweep(base_config, parse_axes(["lora.rank=4,8", "learning_rate=1e-4,1e-3"]))
    assert plan.count == 4 and "4 point(s): lora.rank (2) x learning_rate (2)" in plan.describe()
    record = start_sweep(plan, start_runner=False)
    entries = queue.snapshot().entries
    assert [e["job_id"] for e in entries] == [p["jobs"][0] for p in record.points]
    ranks_and_rates = [(e["config"]["lora"]["rank"], e["config"]["learning_rate"]) for e in entries]
    assert ranks_and_rates == [(4, 1e-4), (4, 1e-3), (8, 1e-4), (8, 1e-3)]
    for entry in entries:
        config = entry["config"]
        assert config["sweep_id"] == record.sweep_id == entry["sweep_id"]
        assert config["dataset"] == base_config.dataset  # no render axis
        assert config["max_steps"] == base_config.max_steps  # the rest is the base
    # rank 4 is the base preset's own value; rank 8 makes the LoRA settings custom
    assert [e["config"]["preset"] for e in entries] == ["minimal", "minimal", "custom", "custom"]
    assert entries[2]["config"]["run_name"] == f"lora.rank=8 learning_rate=0.0001 ({record.sweep_id}#3)"
    assert load_record(record.sweep_id).points[3]["values"] == {"lora.rank": 8, "learning_rate": 1e-3}
    parent = queries.get_run(record.parent_run_id, mlflow_tracking_uri)
    assert parent.status == "RUNNING" and parent.tags[PARENT_TAG] == record.sweep_id
    assert parent.params["sweep.axis.lora.rank"] == "4,8" and parent.params["sweep.points"] == "4"
    assert [s.state for s in point_statuses(record)] == ["QUEUED"] * 4


def test_a_render_sweep_builds_one_dataset_per_setting_from_the_same_documents(base_config):
    from deepsynth.data import load_dataset_dir, read_metadata

    plan = plan_sweep(base_config, parse_axes(["lora.rank=4,8"], render=["font_size=12,16", "line_spacing=1.5"]))
    assert plan.count == 4 and len(plan.renders) == 2
    record = start_sweep(plan, start_runner=False)
    datasets = [point["dataset"] for point in record.points]
    assert datasets[0] == datasets[2] and datasets[1] == datasets[3] and datasets[0] != datasets[1]
    assert [e["config"]["dataset"] for e in queue.snapshot().entries] == datasets
    base_meta = read_metadata(base_config.dataset)
    base = load_dataset_dir(base_config.dataset).dataset
    for folder, font_size in ((datasets[0], 12), (datasets[1], 16)):
        assert folder != base_config.dataset and Path(folder).parent == Path(base_config.dataset).parent
        meta = read_metadata(folder)
        config = meta["dataset_config"]
        assert config["render"] == {**base_meta["dataset_config"]["render"], "font_size": font_size, "line_spacing": 1.5}
        assert {k: v for k, v in config.items() if k != "render"} == \
            {k: v for k, v in base_meta["dataset_config"].items() if k != "render"}
        variant = load_dataset_dir(folder).dataset
        for split in ("train", "validation", "test"):
            assert variant[split]["id"] == base[split]["id"] and variant[split]["text"] == base[split]["text"]
        assert variant["train"][0]["image"].tobytes() != base["train"][0]["image"].tobytes()  # rendered otherwise
    created = read_metadata(datasets[1])["created"]
    again = start_sweep(plan_sweep(base_config, parse_axes(render=["font_size=16", "line_spacing=1.5"])),
                        start_runner=False)
    assert again.points[0]["dataset"] == datasets[1] and read_metadata(datasets[1])["created"] == created  # reused
    same_as_base = start_sweep(plan_sweep(base_config, parse_axes(render=["font_size=12"])), start_runner=False)
    assert same_as_base.points[0]["dataset"] == base_config.dataset


def test_a_render_variant_with_other_documents_is_refused(base_config):
    from dataclasses import replace

    from deepsynth.data import build_dataset
    from deepsynth.sweeps.render_data import base_dataset_config, check_same_documents

    # what a source that changed since the base was built gives: other documents in the splits
    other = build_dataset(replace(base_dataset_config(base_config.dataset), seed=1),
                          Path(base_config.dataset).parent / "reshuffled")
    with pytest.raises(InputError, match="train documents differ"):
        check_same_documents(base_config.dataset, other)
    check_same_documents(base_config.dataset, base_config.dataset)


def _tick_until(runner, job_ids):
    started = []
    wait_for(lambda: started.extend(runner.tick()) or set(job_ids) <= set(started), what=f"{job_ids} to start")


def test_resume_runs_again_only_the_points_that_did_not_finish(base_config, mlflow_tracking_uri):
    done = []
    runner = QueueRunner(spawn=stand_in_spawn, probe=no_gpu, on_sweep_done=done.append)
    record = start_sweep(plan_sweep(base_config, parse_axes(["learning_rate=1e-4,1e-3,1e-2"])), start_runner=False)
    first, second, third = (point["jobs"][0] for point in record.points)
    queue.set_max_concurrent(2)
    _tick_until(runner, [first, second])
    release(jobs.get_job(first).job_dir, "FINISHED")
    release(jobs.get_job(second).job_dir, "FAILED")
    wait_for(lambda: not jobs.get_job(first).alive and not jobs.get_job(second).alive, what="both to end")
    assert jobs.cancel_queued(third)  # taken out of the queue before it started: never ran
    runner.tick()
    assert [s.state for s in point_statuses(load_record(record.sweep_id))] == ["FINISHED", "FAILED", "NEW"]
    assert done == [record.sweep_id]  # nothing left queued or running
    rows = finish_sweep(record.sweep_id)
    assert [row["state"] for row in rows] == ["FINISHED", "FAILED", "NEW"]
    assert queries.get_run(record.parent_run_id, mlflow_tracking_uri).status == "FINISHED"

    resumed, again = resume_sweep(record.sweep_id, start_runner=False)
    assert again == [2, 3]
    points = resumed.points
    assert points[0]["jobs"] == [first] and len(points[1]["jobs"]) == 2 and len(points[2]["jobs"]) == 2
    assert [e["job_id"] for e in queue.snapshot().entries] == [points[1]["jobs"][-1], points[2]["jobs"][-1]]
    assert queries.get_run(record.parent_run_id, mlflow_tracking_uri).status == "RUNNING"  # until done again
    assert finish_sweep(record.sweep_id) is None  # points queued: not done
    _tick_until(runner, [points[1]["jobs"][-1], points[2]["jobs"][-1]])
    (jobs.get_job(first).job_dir.parent / "release-all").write_text("")
    wait_for(lambda: progress_counts(point_statuses(load_record(record.sweep_id)))["FINISHED"] == 3,
             what="every point to finish")
    assert resume_sweep(record.sweep_id, start_runner=False)[1] == []  # nothing left to run
    assert len(jobs.list_jobs()) == 4  # points 1 and 2 started, point 3 never did; then 2 and 3 again
    summary = finish_sweep(record.sweep_id)
    assert [row["state"] for row in summary] == ["FINISHED"] * 3


def test_bad_sweeps_fail_before_anything_is_queued(base_config, sweep_workspace, mlflow_tracking_uri):
    def nothing_happened():
        assert queue.snapshot().entries == []
        assert not (sweep_workspace / "workspace" / "sweeps").exists()
        assert [p.name for p in (sweep_workspace / "datasets").iterdir()] == ["wiki8"]  # no render dataset built

    with pytest.raises(ConfigError, match="the grid is empty"):
        plan_sweep(base_config, [])
    big = parse_axes([f"seed={','.join(map(str, range(15)))}", f"batch_size={','.join(map(str, range(1, 16)))}"])
    with pytest.raises(ConfigError, match="225 points is more than 200: pass --yes"):
        plan_sweep(base_config, big)
    assert plan_sweep(base_config, big, allow_large=True).count == 225
    assert plan_sweep(base_config, big, random_draws=20).count == 20
    huge = parse_axes([f"seed={','.join(map(str, range(100)))}", f"batch_size={','.join(map(str, range(1, 101)))}"])
    with pytest.raises(ConfigError, match="10000 points is more than the 2000"):
        plan_sweep(base_config, huge, allow_large=True)
    with pytest.raises(ConfigError) as caught:
        plan_sweep(base_config, parse_axes(["learning_rate=1e-3,-1"], render=["font_size=2,12", "margin=200"]))
    problems = dict(caught.value.problems)
    assert problems["learning_rate"] == "must be a number > 0, got -1.0"
    assert problems["render.font_size"] == "must be an integer in [6, 400], got 2"
    assert "leaves" in problems["render.margin"]  # 320-px pages: margins of 200 leave no line
    nothing_happened()
    shutil.rmtree(base_config.dataset)
    with pytest.raises(InputError, match="base dataset.*no such dataset folder"):
        plan_sweep(base_config, parse_axes(["lora.rank=4,8"]))
    assert queue.snapshot().entries == [] and not (sweep_workspace / "workspace" / "sweeps").exists()


def test_the_sweep_cli_confirms_queues_and_reports(base_config, sweep_workspace, monkeypatch, capsys):
    import deepsynth.jobs.queue_runner as queue_runner
    from deepsynth.cli import main
    from deepsynth.training.config import save_train_config

    runners = []
    monkeypatch.setattr(queue_runner, "ensure_runner", lambda: runners.append(1))  # no real workers here
    config_file = save_train_config(base_config, sweep_workspace / "base.json")
    argv = ["sweep", "--config", str(config_file), "--grid", "lora.rank=4,8", "--render", "font_size=12"]
    assert main(argv) == 1  # no terminal to confirm on, no --yes: nothing queued
    assert "Queue 2" not in capsys.readouterr().out and queue.snapshot().entries == []
    assert main(argv + ["--yes", "--max-concurrent", "1"]) == 0
    out = capsys.readouterr().out
    sweep_id = re.search(r"^sweep (\S+): 2 job\(s\) queued", out, re.M).group(1)
    assert "2 point(s)" in out and len(queue.snapshot().entries) == 2 and runners == [1]
    assert queue.snapshot().max_concurrent == 1
    assert main(["sweep", "--status", sweep_id]) == 0
    status = capsys.readouterr().out
    assert "2 queued" in status and "QUEUED" in status and "lora.rank=8 render.font_size=12" in status
    assert main(["sweep", "--status"]) == 0 and sweep_id in capsys.readouterr().out
    assert main(["sweep", "--resume", sweep_id, "--grid", "lora.rank=4"]) == 2
    assert main(["sweep", "--resume", sweep_id]) == 0 and "nothing to resume" in capsys.readouterr().out
    assert main(["sweep", "--config", str(config_file), "--grid", "lora.rnak=4", "--yes"]) == 2
    assert "lora.rnak: unknown field (did you mean lora.rank" in capsys.readouterr().err
    (sweep_workspace / "broken.json").write_text(json.dumps({**json.loads(config_file.read_text()), "dataset": "/nope"}))
    assert main(["sweep", "--config", str(sweep_workspace / "broken.json"), "--grid", "lora.rank=4", "--yes"]) == 2
    assert "dataset (in" in capsys.readouterr().err and len(queue.snapshot().entries) == 2
