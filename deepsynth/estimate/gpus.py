"""The GPUs a user is likely to rent, and which of them a configuration fits on.

Memory is the total `nvidia-smi` reports for each card (a little under the marketed size); peak
throughput is taken for the precision a run computes in (`Gpu.peak_for`): the dense BF16/FP16
tensor-core figure from NVIDIA's datasheets (no sparsity) for 16-bit runs, the FP32 (CUDA-core)
figure for float32 runs (PyTorch does not use TF32 tensor cores for float32 matmuls unless
`torch.backends.cuda.matmul.allow_tf32` is set); prices are editable defaults (typical on-demand
cloud rates in USD per hour, `DEFAULT_PRICES` is their one definition), not quotes. The caller passes
the local device: the estimator never probes CUDA itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MIB = 2**20


@dataclass(frozen=True)
class Gpu:
    """One accelerator as the estimate needs it."""

    name: str
    """Display name, also the key in the JSON `gpu_fit` table."""
    memory_bytes: int
    """Memory the framework can use (nvidia-smi total)."""
    peak_tflops: float = 0.0
    """Dense BF16/FP16 tensor-core peak; 0 when unknown (no time prediction)."""
    price_per_hour: float = 0.0
    """USD per hour, editable; 0 when unknown (no cost prediction)."""
    fp32_tflops: float = 0.0
    """FP32 peak without tensor cores (what float32 training gets); 0 when unknown."""
    bf16_tflops: float | None = None
    """BF16 peak where it differs from `peak_tflops` (Turing has no BF16 tensor cores); None: the same."""

    def peak_for(self, dtype: str) -> float:
        """TFLOPS for arithmetic in `dtype` (float32, bfloat16, float16); 0 when unknown."""
        if dtype == "float32":
            return self.fp32_tflops
        if dtype == "bfloat16" and self.bf16_tflops is not None:
            return self.bf16_tflops
        return self.peak_tflops


GPUS: tuple[Gpu, ...] = (
    # Turing, FP16 tensor 65 TFLOPS, FP32 8.1; no BF16 tensor cores (bf16 runs at the FP32 rate)
    Gpu("T4 16GB", 15360 * MIB, 65.0, 0.35, fp32_tflops=8.1, bf16_tflops=8.1),
    Gpu("RTX 3090 24GB", 24576 * MIB, 71.0, 0.22, fp32_tflops=35.6),   # Ampere GA102, FP16 tensor 71, FP32 35.6
    Gpu("RTX 4090 24GB", 24564 * MIB, 165.2, 0.34, fp32_tflops=82.6),  # Ada AD102, BF16 tensor 165.2, FP32 82.6
    Gpu("L4 24GB", 23034 * MIB, 121.0, 0.70, fp32_tflops=30.3),        # Ada AD104, BF16 tensor 121, FP32 30.3
    Gpu("A100 40GB", 40960 * MIB, 312.0, 1.29, fp32_tflops=19.5),      # Ampere GA100, BF16 tensor 312, FP32 19.5
    Gpu("A100 80GB", 81920 * MIB, 312.0, 1.79, fp32_tflops=19.5),
    Gpu("H100 80GB", 81559 * MIB, 989.0, 2.99, fp32_tflops=67.0),      # Hopper SXM, BF16 tensor 989, FP32 67
)
DEFAULT_PRICES = {gpu.name: gpu.price_per_hour for gpu in GPUS}
"""GPU name -> the editable default price per hour (USD)."""


def find_gpu(name: str, table: tuple[Gpu, ...] = GPUS) -> Gpu:
    for gpu in table:
        if gpu.name.lower() == name.lower() or gpu.name.lower().startswith(name.lower()):
            return gpu
    raise KeyError(name)


def local_device(name: str, memory_bytes: int, peak_tflops: float = 0.0, price_per_hour: float = 0.0) -> Gpu:
    """The caller's own device (e.g. from `torch.cuda.get_device_properties`), named `local: NAME`."""
    return Gpu(f"local: {name}", int(memory_bytes), peak_tflops, price_per_hour)


def with_price(gpu: Gpu, price_per_hour: float | None) -> Gpu:
    return gpu if price_per_hour is None else replace(gpu, price_per_hour=price_per_hour)


def fit_table(total_bytes: int, local: Gpu | None = None, table: tuple[Gpu, ...] = GPUS) -> dict[str, bool]:
    """GPU name -> whether the estimated total fits in its memory."""
    gpus = table + ((local,) if local is not None else ())
    return {gpu.name: total_bytes <= gpu.memory_bytes for gpu in gpus}
