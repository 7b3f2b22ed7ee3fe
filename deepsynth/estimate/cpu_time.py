"""Training time on a CPU: the estimator's FLOPs per step at a measured CPU rate, plus a fixed
cost per step, so a CPU-only user sees the time for *their* machine before anything else.

    step seconds = STEP_OVERHEAD_S + FLOPs per step (throughput.flops_per_step)
                                     / (threads x CPU_GFLOPS_PER_THREAD x 1e9) x quantized slowdown

FLOPs follow deepsynth.estimate.throughput (Kaplan et al. 2020; PaLM appendix B). The rate is not
a datasheet peak but what DeepSynth's own training step achieved, measured on this project's
machines (Intel Xeon with AVX-512 and AMX, torch 2.13 CPU build, fp32, `bench/cpu_time_accuracy.py`
prints estimate vs measured for real runs): it folds in how much of the nominal sequence a typical
document fills (wiki pages: ~150 of the 256 tokens), the optimizer, and PyTorch's CPU kernels.
Threads scale the rate linearly, which holds for 1-2 threads (the only counts measured here).

Quantized bases (QLoRA) on a CPU: bitsandbytes dequantizes the 4-bit/8-bit weights for every
matmul into the compute dtype. Where the CPU has bfloat16 instructions (AVX512_BF16 / AMX) a
measured nf4 step took ~0.73x the CPU time of an fp32 LoRA step; without them bfloat16 matmuls
are emulated, and a qlora_4bit run on CPU was reported at 0.05 samples/s, ~30x slower than plain
LoRA (the dashboard walk-through): `QUANTIZED_SLOWDOWN_NO_BF16`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.builtin import load_architecture
from deepsynth.estimate.model_inventory import architecture_inventory
from deepsynth.estimate.params import count_parameters
from deepsynth.estimate.steps import planned_steps
from deepsynth.estimate.throughput import Throughput, flops_per_step
from deepsynth.estimate.workload import Workload
from deepsynth.lora import LoraSettings

CPU_GFLOPS_PER_THREAD = 127.0
"""Effective training GFLOP/s of one CPU thread (fp32): default model, standard preset, batch 4,
4.15 and 3.96 CPU-seconds per step in two measurements (median of 5 steps each) for 517 GFLOP of a
256-token workload (CPU seconds: what an idle machine's wall clock would show)."""
STEP_OVERHEAD_S = 0.012
"""Seconds per step that do not scale with FLOPs (Python, optimizer bookkeeping, collation): the
tiny test model's collate + step took 0.011 CPU-seconds (batch 2, one thread), and the worker's
own per-step work adds ~6% (bench/train_throughput.py: 0.945x of the bare loop)."""
QUANTIZED_SLOWDOWN_BF16 = 0.73
"""CPU time of an nf4 (bf16 compute) step / an fp32 LoRA step, CPU with bf16 instructions
(measured 0.76 and 0.71, interleaved in one process each time)."""
QUANTIZED_SLOWDOWN_NO_BF16 = 30.0
"""The same ratio where bf16 is emulated (reported: 0.05 samples/s vs ~1.5 for plain LoRA)."""
READ_SECONDS_PER_PAGE = 0.45
"""The default model's frozen OCR reader, once per page before training (int8, one thread)."""
PROMPT_TOKENS = 16
"""Chat-template and instruction tokens around the page text and the summary."""
SLOW_HOURS = 1.0
"""A run predicted to take longer than this on the CPU gets a warning before it starts."""


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (Linux /proc/cpuinfo flags; False elsewhere)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def quantized_slowdown(lora: LoraSettings, has_bf16: bool) -> float:
    """How much slower a quantized base trains on this CPU than an fp32 one (1 when not quantized)."""
    if not lora.is_quantized:
        return 1.0
    if lora.compute_dtype in ("bfloat16", "float16") and not has_bf16:
        return QUANTIZED_SLOWDOWN_NO_BF16
    return QUANTIZED_SLOWDOWN_BF16


def cpu_throughput(arch: Architecture | None, lora: LoraSettings, workload: Workload, threads: int,
                   has_bf16: bool | None = None) -> Throughput:
    """Step time, samples and hours for `workload` on `threads` CPU threads. `arch` None: a model
    the estimator cannot describe whose compute is negligible (the tiny test model)."""
    threads = max(1, int(threads))
    flops = 0.0
    if arch is not None:
        inventory = architecture_inventory(arch)
        params = count_parameters(arch, lora, inventory)
        flops = flops_per_step(arch, inventory, params, workload, lora.rank)
    slowdown = quantized_slowdown(lora, cpu_has_bf16() if has_bf16 is None else has_bf16)
    step = STEP_OVERHEAD_S + flops / (threads * CPU_GFLOPS_PER_THREAD * 1e9) * slowdown
    tokens = workload.batch_size * workload.decoder_tokens
    steps = math.ceil(workload.num_documents / workload.batch_size) * workload.epochs
    hours = steps * step / 3600
    return Throughput(f"this CPU ({threads} thread{'s' if threads > 1 else ''})", 1.0, flops, tokens, step,
                      tokens / step, steps, hours, 0.0)


# -- a training run as the Train page describes it ------------------------------------------------
@dataclass(frozen=True)
class RunTime:
    """How long a training configuration will take on this machine's CPU."""

    steps: int
    """Optimizer steps planned."""
    step_seconds: float
    """Predicted seconds per step."""
    reading_seconds: float
    """Reading the pages once before training (the default model's OCR reader), line detection
    included (`detection_seconds`)."""
    slowdown: float
    """Factor from a quantized base on this CPU (1: none)."""
    threads: int
    """CPU threads the run would use."""
    batch_size: int = 1
    """Documents per step."""
    detected_pages: int = 0
    """Training pages without the render mark: they go through the line detector first."""
    detection_seconds: float = 0.0
    """The detector's share of `reading_seconds` (`detection_cost.detect_seconds_per_page`)."""

    @property
    def total_seconds(self) -> float:
        return self.steps * self.step_seconds + self.reading_seconds

    @property
    def samples_per_second(self) -> float:
        return 0.0 if self.step_seconds <= 0 else self.batch_size / self.step_seconds


def training_workload(model: object, batch_size: int, train_docs: int, epochs: float) -> Workload:
    """The estimator's workload for a `TrainConfig`'s model and batch: the decoder reads at most
    `max_source_tokens` of page text, the prompt, and `max_target_tokens` of summary."""
    from deepsynth.estimate.workload import checkpoints_activations

    return Workload(batch_size=batch_size, dtype="float32", device="cpu",
                    seq_len=model.max_source_tokens + PROMPT_TOKENS + model.max_target_tokens,
                    target_tokens=model.max_target_tokens, num_documents=max(1, train_docs),
                    epochs=max(1, math.ceil(epochs)), gradient_checkpointing=checkpoints_activations("cpu"))


def architecture_for(model_name: str, vision_interface: str) -> Architecture | None:
    """The estimator's architecture of a `ModelConfig.name`; None for `tiny` (negligible compute)."""
    if model_name == "tiny":
        return None
    return load_architecture(model_name, vision_interface)


def run_time_on_cpu(config: object, train_docs: int, threads: int, has_bf16: bool | None = None,
                    detected_pages: int | None = None) -> RunTime:
    """Predicted time of a `TrainConfig` on `threads` CPU threads with `train_docs` training
    documents (raises what `load_architecture` raises for a model it cannot read).
    `detected_pages`: training pages the line detector must find lines on (None: from the
    dataset's metadata, `page_reading.dataset_pages_through_detector`); each costs the detector's
    measured seconds at its input size (`detection_cost`)."""
    steps = planned_steps(train_docs, config.batch_size, config.max_steps, config.epochs)
    workload = training_workload(config.model, config.batch_size, train_docs, config.epochs)
    arch = architecture_for(config.model.name, config.model.vision_interface)
    speed = cpu_throughput(arch, config.lora, workload, threads, has_bf16)
    slowdown = quantized_slowdown(config.lora, cpu_has_bf16() if has_bf16 is None else has_bf16)
    reading = detection = 0.0
    detected = 0
    if config.model.name != "tiny":
        from deepsynth.estimate.page_reading import dataset_pages_through_detector
        from deepsynth.models.builtin.detection_cost import detect_seconds_per_page

        # The tiny reader cuts every page by its layout, a VLM reads pixels: neither detects lines.
        if getattr(arch, "vlm", None) is None:
            if detected_pages is None:
                detected_pages = dataset_pages_through_detector(getattr(config, "dataset", ""), train_docs)
            detected = max(0, int(detected_pages))
        detection = detected * detect_seconds_per_page(threads=threads)
        reading = train_docs * READ_SECONDS_PER_PAGE + detection
    return RunTime(steps, speed.step_seconds, reading, slowdown, max(1, int(threads)), config.batch_size,
                   detected, detection)


def slow_reasons(config: object, run_time: RunTime, total_seconds: float | None = None) -> list[str]:
    """Why this configuration will be slow on this CPU, each with the predicted time (or []);
    `total_seconds`: the whole job's (`job_time.job_plan`), else training and reading only."""
    from deepsynth.units import readable_duration

    total = run_time.total_seconds if total_seconds is None else total_seconds
    reasons = []
    if config.lora.is_quantized:
        if run_time.slowdown > 1:
            reasons.append(
                f"{config.lora.quantization} quantization on a CPU without bfloat16 instructions: bitsandbytes "
                f"dequantizes every matmul, about {run_time.slowdown:.0f}x slower than plain LoRA "
                f"({run_time.samples_per_second:.2f} samples/s, {readable_duration(total)} "
                "for this run). Quantization saves GPU memory; on a CPU use a preset without it.")
        else:
            reasons.append(
                f"{config.lora.quantization} quantization on a CPU saves no time here "
                f"(~{readable_duration(total)}); it is meant to save GPU memory.")
    if total > SLOW_HOURS * 3600:
        reasons.append(f"about {readable_duration(total)} on this CPU "
                       f"({run_time.steps} steps at {run_time.step_seconds:.1f} s/step on {run_time.threads} "
                       "thread(s)): fewer steps, a smaller batch or a GPU machine would help.")
    return reasons
