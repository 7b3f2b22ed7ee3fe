"""`estimate(architecture, lora, workload)`: parameters, memory per term, GPU fit, time and cost."""

from __future__ import annotations

from dataclasses import dataclass

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.builtin import text_encoder_shape
from deepsynth.estimate.gpus import GPUS, Gpu, find_gpu, fit_table, with_price
from deepsynth.estimate.model_inventory import architecture_inventory
from deepsynth.estimate.memory import (
    MemoryBreakdown,
    MemoryTerm,
    activations_term,
    optimizer_term,
    overhead_term,
    projector_copy_tensors,
    text_encoder_term,
    trace_settings,
    trainable_tensors,
    weights_term,
)
from deepsynth.estimate.params import ParameterCount, count_parameters, validate_lora_for
from deepsynth.estimate.throughput import DEFAULT_UTILIZATION, Throughput, flops_per_step, predict
from deepsynth.estimate.vlm.step import resolve_workload
from deepsynth.estimate.workload import Workload
from deepsynth.lora import LoraSettings

FP32 = 4


@dataclass(frozen=True)
class Estimate:
    """What a configuration costs, before anything heavy loads."""

    architecture: str
    """Name of the architecture estimated."""
    params: ParameterCount
    """Exact counts (decoder + reader + projection) with the adapters."""
    text_encoder_params: int
    """Parameters of the instruction encoder and its projection (0 without one)."""
    text_encoder_trainable: int
    """Of those, how many train."""
    memory: MemoryBreakdown
    """Peak memory per term."""
    gpu_fit: dict[str, bool]
    """GPU name -> the total fits."""
    throughput: Throughput | None
    """Predicted speed, time and cost on the chosen GPU (None without a peak FLOPs figure)."""
    notes: tuple[str, ...] = ()
    """Assumptions and caveats to show with the numbers."""
    workload: Workload | None = None
    """The workload as estimated (a native VLM's image tokens filled in from the page size)."""
    step_peak: int | None = None
    """A VLM described from its structure: the traced step's peak above the loaded model and the
    batch (activations, gradients, optimizer state, temporaries); None for the other descriptions."""

    @property
    def total_params(self) -> int:
        return self.params.total + self.text_encoder_params

    @property
    def trainable_params(self) -> int:
        return self.params.trainable + self.text_encoder_trainable

    def to_json(self) -> dict:
        """Exactly the object `deepsynth estimate --json` prints."""
        return {
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "memory_bytes": self.memory.as_bytes(),
            "gpu_fit": dict(self.gpu_fit),
        }

    def details(self) -> dict:
        """Everything, with formulas and sources (for `estimate.json` next to a run)."""
        terms = {name: {"bytes": getattr(self.memory, name).bytes, "formula": getattr(self.memory, name).formula,
                        "source": getattr(self.memory, name).source} for name in MemoryBreakdown.TERMS}
        speed = None
        if self.throughput is not None:
            speed = {k: getattr(self.throughput, k) for k in self.throughput.__dataclass_fields__}
        return {**self.to_json(), "architecture": self.architecture, "adapter_params": self.params.adapter,
                "adapted_modules": len(self.params.match.adapted), "memory_terms": terms,
                "throughput": speed, "notes": list(self.notes),
                **({"step_peak_bytes": self.step_peak} if self.step_peak is not None else {})}


def estimate(arch: Architecture, lora: LoraSettings, workload: Workload, *, gpu: str | Gpu = "A100 80GB",
             local_device: Gpu | None = None, utilization: float = DEFAULT_UTILIZATION,
             price_per_hour: float | None = None) -> Estimate:
    """Estimate one training configuration. Raises ConfigError when the LoRA settings do not fit the
    architecture (unmatched targets, rank above the smallest targeted dimension)."""
    if arch.structure is not None:  # described from its structure: the meta-device build and traced step
        from deepsynth.estimate.vlm.structural_estimate import structural_estimate

        return structural_estimate(arch, lora, workload, gpu=gpu, local_device=local_device, utilization=utilization,
                                   price_per_hour=price_per_hour)
    workload = resolve_workload(arch, workload)
    inventory = architecture_inventory(arch)
    validate_lora_for(arch, lora, inventory)
    params = count_parameters(arch, lora, inventory)
    sizes = trainable_tensors(inventory, params, lora, arch)
    copy_sizes = projector_copy_tensors(inventory, params)
    # the projector copy takes the projector's dtype: fp32 once prepare_model_for_kbit_training ran (QLoRA)
    copy, copy_bytes = params.modules_to_save, FP32 if lora.is_quantized else workload.dtype_bytes
    projection = 0 if arch.vlm is not None else params.by_group.get("projector", 0)
    adapters = MemoryTerm(
        (params.adapter + projection) * FP32 + copy * copy_bytes,
        f"{params.adapter:,} LoRA params (r={lora.rank}, {len(params.match.adapted)} modules) "
        + (f"fp32 + projector copy {copy:,} params x {copy_bytes} B (modules_to_save)" if copy else
           f"+ {projection:,} projection params, fp32" if projection else "fp32"),
        "PEFT LoRA shapes (A: r x in, B: out x r); PEFT keeps adapter weights in fp32 (autocast_adapter_dtype)")
    fp32_trainable = params.trainable - copy
    gradients = MemoryTerm(fp32_trainable * FP32 + copy * copy_bytes,
                           f"{fp32_trainable:,} trainable params x 4 B" + (f" + {copy:,} x {copy_bytes} B" if copy else ""),
                           "one gradient per trainable parameter, in its dtype")
    settings = trace_settings(arch, lora, params, inventory, workload)
    te_shape = text_encoder_shape(workload.text_encoder)
    te_term, te_params, te_trainable = text_encoder_term(te_shape, arch.decoder.hidden_size, workload)
    memory = MemoryBreakdown(
        weights=weights_term(inventory, lora, workload, arch),
        adapters=adapters,
        gradients=gradients,
        optimizer=optimizer_term(sizes, workload.optimizer, copy_sizes, copy_bytes),
        activations=activations_term(arch, settings, workload),
        text_encoder=te_term,
        overhead=overhead_term(workload),
    )
    chosen = gpu if isinstance(gpu, Gpu) else find_gpu(gpu)
    chosen = with_price(chosen, price_per_hour)
    flops = flops_per_step(arch, inventory, params, workload, lora.rank, te_params)
    notes = list(arch.notes)
    if any(m.group == "vision" for m in params.match.adapted):
        notes.append("targets reach the vision encoder: its training activations are not modelled")
    if workload.device == "cpu":
        notes.append("CPU: the peak counts tensors only (no CUDA context or allocator reserve to add)")
    return Estimate(arch.name, params, te_params, te_trainable, memory,
                    fit_table(memory.total, local_device, GPUS), predict(flops, workload, chosen, utilization),
                    tuple(notes), workload)
