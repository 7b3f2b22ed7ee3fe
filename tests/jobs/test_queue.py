"""The job queue with stand-in workers: order, slots, reordering, cancelling, failures, GPUs,
concurrent writers, and what `deepsynth jobs list` shows. The runner's loop runs in this process
here (`QueueRunner.tick`); tests/jobs/test_queue_runner_kill.py runs it as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from queue_helpers import no_gpu, release, stand_in_spawn, started_gpu, wait_for

from deepsynth import jobs
from deepsynth.errors import DeepSynthError, InputError
from deepsynth.jobs import queue
from deepsynth.jobs.queue_runner import QueueRunner
from deepsynth.training.config import TrainConfig
from deepsynth.gpu_probe import GpuMemory

GIB = 1 << 30


def a_config(workspace, **fields):
    return TrainConfig(dataset=str(workspace / "d"), **fields)


def queue_some(workspace, count, **fields):
    return [jobs.queue_job(a_config(workspace, run_name=f"job {i}", **fields), start_runner=False)
            for i in range(count)]


def runner(**options):
    """A runner with stand-in workers, no GPU, and (unless a test says otherwise) ample memory:
    slot decisions then do not depend on this machine's free RAM."""
    options.setdefault("available_memory", lambda: 1 << 50)
    return QueueRunner(spawn=stand_in_spawn, probe=options.pop("probe", no_gpu), **options)


def job_dir(job):
    return job.job_dir if hasattr(job, "job_dir") else jobs.get_job(job.job_id).job_dir


def wait_ended(job_id):
    wait_for(lambda: not jobs.get_job(job_id).alive, what=f"job {job_id} to end")
    return jobs.get_job(job_id)


def test_jobs_start_in_order_one_at_a_time_on_one_core_and_a_failure_does_not_stop_the_queue(queue_workspace, monkeypatch):
    monkeypatch.setattr("deepsynth.training.hardware.available_cores", lambda: 1)
    first, second, third = queue_some(queue_workspace, 3)
    assert [j.position for j in jobs.list_queued()] == [1, 2, 3]
    assert not (queue_workspace / "workspace" / "jobs").exists()  # nothing runs before a runner
    serve = runner()
    assert serve.tick() == [first.job_id]
    assert serve.tick() == []  # one core: one slot, taken
    assert [j.job_id for j in jobs.list_queued()] == [second.job_id, third.job_id]
    started = jobs.get_job(first.job_id)
    assert started.state == jobs.RUNNING and json.loads((started.job_dir / "train_config.json").read_text())["run_name"] == "job 0"
    release(started.job_dir, "FAILED")
    assert wait_ended(first.job_id).state == jobs.FAILED
    assert serve.tick() == [second.job_id]  # the failure did not stop the queue
    release(job_dir(second))
    assert wait_ended(second.job_id).state == jobs.FINISHED
    assert serve.tick() == [third.job_id]
    release(job_dir(third))
    wait_ended(third.job_id)
    assert serve.tick() == [] and queue.snapshot().started == [] and jobs.list_queued() == []


def test_auto_runs_two_jobs_on_two_cores_and_tells_each_it_shares_them(queue_workspace, monkeypatch):
    """`auto` on a CPU with 2+ cores: two jobs at once (bench/sweep.py: 0.43-0.73x the wall time of
    one slot on 2 cores), each told at start that two share the cores, so each takes one thread."""
    monkeypatch.setattr("deepsynth.training.hardware.available_cores", lambda: 2)
    first, second, third = queue_some(queue_workspace, 3)
    serve = runner()
    assert serve.tick() == [first.job_id, second.job_id]
    assert serve.tick() == []  # both slots taken
    for job in (first, second):
        env = wait_for(lambda: (job_dir(job) / "env.json").is_file() and json.loads((job_dir(job) / "env.json").read_text()),
                       what="the stand-in's environment")
        assert env["concurrent"] == "2"
    release(job_dir(first))
    wait_ended(first.job_id)
    assert serve.tick() == [third.job_id]  # the last one: it shares the cores with the one still running
    env = wait_for(lambda: (job_dir(third) / "env.json").is_file() and json.loads((job_dir(third) / "env.json").read_text()),
                   what="the stand-in's environment")
    assert env["concurrent"] == "2"
    (job_dir(second).parent / "release-all").write_text("")
    wait_ended(second.job_id), wait_ended(third.job_id)


def test_auto_starts_a_second_cpu_job_only_when_memory_covers_the_estimate(queue_workspace, monkeypatch, capsys):
    """Issue 22 item 14: two slots on two cores, but the second job starts only when the memory
    available covers its estimated peak plus what the running job has yet to grow to."""
    from deepsynth.training.gpu_queue import estimated_need

    monkeypatch.setattr("deepsynth.training.hardware.available_cores", lambda: 2)
    need = estimated_need(a_config(queue_workspace), device="cpu")
    assert need > 1e9  # the default model's figure, libraries included
    first, second = queue_some(queue_workspace, 2)
    free = {"bytes": need + need // 2}
    resident = {"bytes": 0}
    serve = runner(available_memory=lambda: free["bytes"], job_memory=lambda job: (need, resident["bytes"]))
    assert serve.tick() == [first.job_id]  # the first job always starts
    assert serve.tick() == [] and [j.job_id for j in jobs.list_queued()] == [second.job_id]
    assert f"job {second.job_id} waits: it needs about {need / 1e9:.1f} GB" in capsys.readouterr().out
    resident["bytes"] = need  # the first job reached its peak: only the second's need counts now
    assert serve.tick() == [second.job_id]
    (job_dir(first).parent / "release-all").write_text("")
    wait_ended(first.job_id), wait_ended(second.job_id)


def test_max_concurrent_slots_count_hand_started_jobs_and_reordering_changes_who_goes_next(queue_workspace):
    by_hand = jobs.start_job(a_config(queue_workspace), spawn=stand_in_spawn)  # `deepsynth jobs start`
    a, b, c, d = queue_some(queue_workspace, 4)
    queue.set_max_concurrent(3)
    assert [j.job_id for j in jobs.move(d.job_id, 1)] == [d.job_id, a.job_id, b.job_id, c.job_id]
    jobs.move(a.job_id, 99)  # beyond the end: last
    assert [j.job_id for j in jobs.list_queued()] == [d.job_id, b.job_id, c.job_id, a.job_id]
    assert jobs.cancel_queued(c.job_id) and not jobs.cancel_queued(c.job_id)
    serve = runner()
    assert serve.tick() == [d.job_id, b.job_id]  # 3 slots, one held by the job started by hand
    release(by_hand.job_dir)
    wait_ended(by_hand.job_id)
    assert serve.tick() == [a.job_id]
    assert jobs.list_queued() == [] and c.job_id not in {j.job_id for j in jobs.list_jobs()}
    with pytest.raises(InputError, match="not waiting"):
        jobs.move(c.job_id, 1)
    with pytest.raises(InputError):
        queue.set_max_concurrent(0)


def test_a_job_that_cannot_start_is_recorded_and_the_next_one_starts(queue_workspace):
    import shutil

    (queue_workspace / "gone").mkdir()
    (queue_workspace / "gone" / "deepsynth_dataset.json").write_text("{}")
    doomed = jobs.queue_job(TrainConfig(dataset=str(queue_workspace / "gone")), start_runner=False)
    fine, = queue_some(queue_workspace, 1)
    shutil.rmtree(queue_workspace / "gone")  # deleted while its job waited
    assert runner().tick() == [fine.job_id]
    failed, = queue.failed_to_start()
    assert failed["job_id"] == doomed.job_id and "not a DeepSynth dataset folder" in failed["error"]


def test_cuda_one_job_per_free_gpu_pinned_with_cuda_visible_devices(queue_workspace):
    free = {0: 80 * GIB, 1: 1 * GIB}  # GPU 1 is busy with someone else's work

    def probe():
        return [GpuMemory(index, 80 * GIB, bytes_free) for index, bytes_free in free.items()]

    first, second, third = queue_some(queue_workspace, 3)  # the default model needs ~2.9 GB (estimate)
    serve = runner(probe=probe)
    assert serve.tick() == [first.job_id]  # GPU 0 has room; GPU 1 has not: the 2nd waits, in order
    assert started_gpu(job_dir(first)) == "0"
    free[1] = 80 * GIB
    assert serve.tick() == [second.job_id]
    assert started_gpu(job_dir(second)) == "1"
    assert serve.tick() == []  # both GPUs held by queued jobs
    release(job_dir(first))
    wait_ended(first.job_id)
    assert serve.tick() == [third.job_id] and started_gpu(job_dir(third)) == "0"
    cpu_only = jobs.queue_job(a_config(queue_workspace, device="cpu"), start_runner=False)
    queue.set_max_concurrent(3)
    assert serve.tick() == [cpu_only.job_id] and started_gpu(job_dir(cpu_only)) is None


def test_when_the_last_job_of_a_sweep_ends_its_summary_is_started_once(queue_workspace):
    done = []
    serve = runner(on_sweep_done=done.append)
    queue.set_max_concurrent(2)
    a, b = queue_some(queue_workspace, 2, sweep_id="sweep-x")
    other, = queue_some(queue_workspace, 1)
    assert serve.tick() == [a.job_id, b.job_id]
    release(job_dir(a))
    wait_ended(a.job_id)
    serve.tick()
    assert done == []  # b still runs
    release(job_dir(b), "FAILED")
    wait_ended(b.job_id)
    serve.tick()
    serve.tick()
    assert done == ["sweep-x"]


def test_concurrent_writers_lose_nothing(queue_workspace):
    script = ("import sys\nfrom deepsynth.jobs import queue\nfrom deepsynth.training.config import TrainConfig\n"
              "config = TrainConfig(dataset=sys.argv[1])\n"
              "for i in range(15):\n    queue.add([queue.entry_for(config)])\n")
    writers = [subprocess.Popen([sys.executable, "-c", script, str(queue_workspace / "d")]) for _ in range(4)]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    queued = jobs.list_queued()
    assert len(queued) == 60 and len({j.job_id for j in queued}) == 60


def test_an_unreadable_queue_is_an_error_not_an_empty_queue(queue_workspace):
    queue_some(queue_workspace, 1)
    (queue.queue_dir() / queue.QUEUE_FILE).write_text("{not json")
    with pytest.raises(DeepSynthError, match="unreadable job queue"):
        jobs.list_queued()


def test_jobs_cli_shows_queued_jobs_with_their_position_and_cancels_them(queue_workspace, capsys):
    from deepsynth.cli import main

    a, b = queue_some(queue_workspace, 2, sweep_id="sweep-y")
    assert main(["jobs", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines[b.job_id].split()[1] == "QUEUED" and "position 2 · sweep sweep-y" in lines[b.job_id]
    assert main(["jobs", "queue", "move", b.job_id, "1"]) == 0
    assert main(["jobs", "queue", "list"]) == 0
    out = capsys.readouterr().out
    assert out.index(b.job_id) < out.index(a.job_id) and "max concurrent: auto" in out
    assert main(["jobs", "cancel", b.job_id]) == 0  # a waiting job: just leaves the queue
    assert main(["jobs", "queue", "cancel", a.job_id]) == 0
    assert jobs.list_queued() == []
    assert main(["jobs", "queue", "cancel", a.job_id]) == 2
    assert main(["jobs", "queue", "limit", "2"]) == 0 and queue.snapshot().max_concurrent == 2
    assert main(["jobs", "queue", "limit", "auto"]) == 0 and queue.snapshot().max_concurrent is None


def test_a_job_pinned_to_a_gpu_checks_that_gpu_not_the_first_one(tmp_path, monkeypatch):
    """nvidia-smi numbers GPUs physically; a worker started with CUDA_VISIBLE_DEVICES=1 sees it as
    cuda:0 and must wait for GPU 1's memory, not GPU 0's (held by another queued job)."""
    from deepsynth.training.gpu_queue import physical_index, queue_for_gpu

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "deepsynth_dataset.json").write_text("{}")

    def probe():
        return [GpuMemory(0, 80 * GIB, 1 * GIB), GpuMemory(1, 80 * GIB, 80 * GIB)]

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert physical_index(0) == 1
    claim = queue_for_gpu(TrainConfig(dataset=str(tmp_path / "d")), 0, tmp_path / "locks", probe=probe)
    assert claim.check.index == 1 and claim.waited_s < 5
    claim.release()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert [physical_index(i) for i in (0, 1)] == [2, 3]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert physical_index(1) == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f0c1a2b")  # a UUID: nvidia-smi's index cannot be inferred
    assert physical_index(0) == 0
