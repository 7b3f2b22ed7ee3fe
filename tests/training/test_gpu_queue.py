"""The GPU queue with fake probes: a busy GPU queues the run, a free one starts it, a run bigger
than the GPU fails at once, and workers take turns through a lock a killed holder cannot keep."""

from __future__ import annotations

import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest

from deepsynth.gpu_probe import MIB, GpuMemory, GpuUnavailable, nvidia_smi_probe
from deepsynth.training.gpu_queue import check_gpu, estimated_need, wait_for_gpu

GIB = 1 << 30


class FakeClock:
    """time.monotonic/time.sleep stand-ins: sleeping advances the clock and runs a hook."""

    def __init__(self, on_sleep=None):
        self.now, self.sleeps, self.on_sleep = 0.0, [], on_sleep

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


def probe_sequence(*free_gib, total_gib=80):
    """A probe reporting GPU 0 with these free amounts, one per call (the last one repeats)."""
    calls = []

    def probe():
        value = free_gib[min(len(calls), len(free_gib) - 1)]
        calls.append(value)
        return [GpuMemory(0, total_gib * GIB, int(value * GIB))]

    probe.calls = calls
    return probe


def test_nvidia_smi_output_is_parsed_and_failures_are_clear():
    def fake_run(argv, **options):
        assert argv[0] == "nvidia-smi" and "shell" not in options
        return subprocess.CompletedProcess(argv, 0, "0, 81559, 1024\n1, 81559, 80000\n", "")

    assert nvidia_smi_probe(fake_run) == [GpuMemory(0, 81559 * MIB, 1024 * MIB), GpuMemory(1, 81559 * MIB, 80000 * MIB)]
    failing = lambda argv, **o: subprocess.CompletedProcess(argv, 9, "", "NVIDIA-SMI has failed")  # noqa: E731
    with pytest.raises(GpuUnavailable, match=r"nvidia-smi failed \(9\): NVIDIA-SMI has failed"):
        nvidia_smi_probe(failing)

    def missing(argv, **options):
        raise FileNotFoundError(2, "No such file or directory", "nvidia-smi")

    with pytest.raises(GpuUnavailable, match="cannot query the GPUs with nvidia-smi"):
        nvidia_smi_probe(missing)


def test_check_compares_the_need_with_what_is_free():
    assert check_gpu(10 * GIB, probe_sequence(12)).fits
    busy = check_gpu(10 * GIB, probe_sequence(4))
    assert not busy.fits and busy.describe() == "GPU 0 has 4.0 of 80.0 GiB free; this run needs about 10.0 GiB"
    unknown_model = check_gpu(None, probe_sequence(30))  # no estimate: half the GPU must be free
    assert unknown_model.needed_bytes == 40 * GIB and not unknown_model.fits
    with pytest.raises(GpuUnavailable, match=r"no GPU 3 \(the probe sees \[0\]\)"):
        check_gpu(GIB, probe_sequence(1), index=3)


def test_a_busy_gpu_queues_the_run_until_memory_frees(tmp_path):
    probe = probe_sequence(2, 5, 30)
    time = FakeClock()
    reasons = []
    claim = wait_for_gpu(20 * GIB, probe, lock_dir=tmp_path, poll_s=15, on_queued=reasons.append,
                         sleep=time.sleep, clock=time.clock)
    assert probe.calls == [2, 5, 30] and time.sleeps == [15, 15]
    assert reasons == ["GPU 0 has 2.0 of 80.0 GiB free; this run needs about 20.0 GiB: queued until it is free",
                       "GPU 0 has 5.0 of 80.0 GiB free; this run needs about 20.0 GiB: queued until it is free"]
    assert claim.held and claim.check.free_bytes == 30 * GIB and claim.waited_s == 30
    claim.release()
    claim.release()  # idempotent
    assert not claim.held


def test_a_run_bigger_than_the_gpu_fails_at_once_and_a_wait_can_time_out(tmp_path):
    time = FakeClock()
    with pytest.raises(GpuUnavailable, match="more than the whole GPU, so it would never start"):
        wait_for_gpu(100 * GIB, probe_sequence(80), lock_dir=tmp_path, sleep=time.sleep, clock=time.clock)
    assert time.sleeps == []
    with pytest.raises(GpuUnavailable, match=r"waited 60 s for the GPU: GPU 0 has 1.0 of 80.0 GiB free"):
        wait_for_gpu(10 * GIB, probe_sequence(1), lock_dir=tmp_path, poll_s=20, timeout_s=60,
                     sleep=time.sleep, clock=time.clock)
    # neither attempt kept the lock
    assert wait_for_gpu(GIB, probe_sequence(80), lock_dir=tmp_path).held


CLAIMER = """
import sys, time
from deepsynth.gpu_probe import GpuMemory
from deepsynth.training.gpu_queue import wait_for_gpu
claim = wait_for_gpu(1, lambda: [GpuMemory(0, 10, 10)], lock_dir=sys.argv[1])
print("claimed", flush=True)
time.sleep(600)
"""


def test_workers_take_turns_and_a_killed_claimer_does_not_block_the_queue(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", CLAIMER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "claimed"
        reasons = []

        def kill_the_claimer(sleeps):  # the other worker dies holding its turn (kill -9, OOM killer)
            if sleeps == 2:
                other.send_signal(signal.SIGKILL)
                other.wait()

        time = FakeClock(kill_the_claimer)
        claim = wait_for_gpu(GIB, probe_sequence(80), lock_dir=tmp_path, poll_s=1, on_queued=reasons.append,
                             sleep=time.sleep, clock=time.clock)
        assert reasons == ["another job is starting on GPU 0"] * 2 and claim.held
        claim.release()
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()


def test_the_need_is_estimated_from_the_settings_before_the_model_loads():
    from deepsynth.estimate import Workload, estimate, load_architecture
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig

    config = SimpleNamespace(model=ModelConfig(name="default"), lora=preset("standard"), batch_size=8)
    need = estimated_need(config)
    direct = estimate(load_architecture("default"), preset("standard"),
                      Workload(batch_size=8, seq_len=64 + 192 + 48, target_tokens=48, padded=True)).memory.total
    assert need == direct and 0.1 * GIB < need < 80 * GIB
    bigger = estimated_need(SimpleNamespace(model=ModelConfig(name="default"), lora=preset("standard"), batch_size=32))
    assert bigger > need
    assert estimated_need(SimpleNamespace(model=ModelConfig(name="tiny"), lora=preset("minimal"), batch_size=4)) is None
