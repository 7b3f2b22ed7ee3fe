"""This machine and its CPU time: the nvidia-smi probe decides the device (no torch), the CPU model
is FLOPs at a measured rate, quantized bases are slow on CPUs without bf16, `deepsynth estimate`
defaults to this machine's device, and a Train-page configuration gets its time and warnings."""

import json
import subprocess
import sys

import pytest

from deepsynth.cli import main
from deepsynth.estimate import Workload, load_architecture
from deepsynth.estimate import cpu_time, this_machine
from deepsynth.estimate.throughput import flops_per_step
from deepsynth.estimate.model_inventory import architecture_inventory
from deepsynth.estimate.params import count_parameters
from deepsynth.lora import preset
from deepsynth.models.config import ModelConfig
from deepsynth.training.config import TrainConfig
from deepsynth.gpu_probe import GpuMemory, GpuUnavailable


def test_the_probe_decides_the_device():
    def failing():
        raise GpuUnavailable("cannot query the GPUs with nvidia-smi: [Errno 2] No such file")

    assert this_machine.probe_machine(failing).device == "cpu"
    assert this_machine.probe_machine(lambda: []).device == "cpu"
    machine = this_machine.probe_machine(lambda: [GpuMemory(0, 80 * 2**30, 70 * 2**30)])
    assert machine.device == "cuda" and machine.gpus[0].name == "local: GPU 0"
    assert machine.gpus[0].memory_bytes == 80 * 2**30 and machine.cpu_threads >= 1

    def no_binary(argv, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    from deepsynth.gpu_probe import nvidia_smi_probe
    assert this_machine.probe_machine(lambda: nvidia_smi_probe(run=no_binary)).device == "cpu"


def test_cpu_time_is_flops_at_the_measured_rate_plus_a_fixed_cost():
    arch = load_architecture("default")
    workload = Workload(batch_size=4, seq_len=256, dtype="float32", device="cpu", num_documents=40)
    lora = preset("standard")
    inventory = architecture_inventory(arch)
    flops = flops_per_step(arch, inventory, count_parameters(arch, lora, inventory), workload, lora.rank)
    one = cpu_time.cpu_throughput(arch, lora, workload, threads=1)
    assert one.step_seconds == pytest.approx(cpu_time.STEP_OVERHEAD_S + flops / (cpu_time.CPU_GFLOPS_PER_THREAD * 1e9))
    assert one.steps == 10 and one.cost == 0.0 and one.gpu == "this CPU (1 thread)"
    two = cpu_time.cpu_throughput(arch, lora, workload, threads=2)
    assert two.step_seconds < one.step_seconds
    tiny = cpu_time.cpu_throughput(None, lora, workload, threads=1)  # the tiny test model: overhead only
    assert tiny.step_seconds == cpu_time.STEP_OVERHEAD_S


def test_quantized_bases_are_slow_where_the_cpu_lacks_bf16():
    arch = load_architecture("default")
    workload = Workload(batch_size=4, seq_len=256, dtype="float32", device="cpu")
    plain = cpu_time.cpu_throughput(arch, preset("standard"), workload, 2, has_bf16=False)
    qlora = cpu_time.cpu_throughput(arch, preset("qlora_4bit"), workload, 2, has_bf16=False)
    assert qlora.step_seconds / plain.step_seconds == pytest.approx(cpu_time.QUANTIZED_SLOWDOWN_NO_BF16, rel=0.01)
    with_bf16 = cpu_time.cpu_throughput(arch, preset("qlora_4bit"), workload, 2, has_bf16=True)
    assert with_bf16.step_seconds < plain.step_seconds  # measured: ~0.73x the CPU time of fp32 LoRA
    fp32_compute = preset("qlora_4bit", compute_dtype="float32")
    assert cpu_time.quantized_slowdown(fp32_compute, has_bf16=False) == cpu_time.QUANTIZED_SLOWDOWN_BF16


def test_a_train_config_gets_its_time_and_warnings_here(tmp_path):
    (tmp_path / "deepsynth_dataset.json").write_text("{}")
    config = TrainConfig(dataset=str(tmp_path), lora=preset("qlora_4bit"), preset="qlora_4bit", max_steps=10,
                         batch_size=4)
    cpu = this_machine.Machine("cpu", 2)
    timing = cpu_time.run_time_on_cpu(config, train_docs=32, threads=2, has_bf16=False)
    assert timing.steps == 10 and timing.slowdown == cpu_time.QUANTIZED_SLOWDOWN_NO_BF16
    assert timing.reading_seconds == 32 * cpu_time.READ_SECONDS_PER_PAGE
    (reason, *_) = cpu_time.slow_reasons(config, timing)
    assert "30x slower than plain LoRA" in reason and "for this run" in reason
    here = this_machine.run_here(config, 32, cpu)
    assert "for the whole job" in here.summary and "train" in here.phases and here.warnings and not here.problems
    on_cuda = TrainConfig(dataset=str(tmp_path), device="cuda")
    assert "no GPU" in this_machine.run_here(on_cuda, 32, cpu).problems[0]
    tiny = TrainConfig(dataset=str(tmp_path), model=ModelConfig(name="tiny"), max_steps=5)
    assert "read the training pages" not in this_machine.run_here(tiny, 32, cpu).phases  # its reader is instant
    long_run = TrainConfig(dataset=str(tmp_path), max_steps=20000, batch_size=8)
    assert any("on this CPU" in reason for reason in this_machine.run_here(long_run, 32, cpu).warnings)


def test_the_estimate_cli_defaults_to_this_machine(capsys, monkeypatch):
    monkeypatch.setattr(this_machine, "this_machine", lambda: this_machine.Machine("cpu", 2))
    assert main(["estimate", "--model", "smollm2-135m", "--json"]) == 0
    cpu = json.loads(capsys.readouterr().out)
    assert main(["estimate", "--model", "smollm2-135m", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == cpu  # the default is this machine's device...
    assert main(["estimate", "--model", "smollm2-135m", "--device", "cuda", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) != cpu  # ...not cuda
    monkeypatch.setattr(this_machine, "this_machine",
                        lambda: this_machine.probe_machine(lambda: [GpuMemory(0, 80 * 2**30, 80 * 2**30)]))
    assert main(["estimate", "--model", "smollm2-135m", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["memory_bytes"]["weights"] < cpu["memory_bytes"]["weights"]  # bf16


def test_the_probe_starts_no_torch():
    code = ("import sys; from deepsynth.estimate.this_machine import this_machine; this_machine(); "
            "assert 'torch' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
