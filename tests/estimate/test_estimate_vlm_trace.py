"""The replayed VLM step peaks where the real one does (profiler, one step of the real model, run as
DeepSynth's VLM model runs it): a language-model-bound Qwen2-VL step and a tower-bound DeepSeek-OCR-2
step (SAM's global attention over a 1024 px view)."""

import pytest
from vlm_helpers import profiled_vlm_step, vlm_config, write_config

from deepsynth.estimate import Workload, load_architecture
from deepsynth.estimate.model_inventory import architecture_inventory
from deepsynth.estimate.memory import trace_settings
from deepsynth.estimate.ops import Ops
from deepsynth.estimate.params import count_parameters
from deepsynth.estimate.trace import Trace
from deepsynth.estimate.vlm.step import resolve_workload, vlm_step
from deepsynth.lora import LoraSettings


def _replayed_peak(arch, workload: Workload, rank: int) -> int:
    """The trace's peak above the resident batch tensors (the profiler sees the step's allocations only)."""
    lora = LoraSettings(rank=rank, alpha=2 * rank, dropout=0.05)
    inventory = architecture_inventory(arch)
    workload = resolve_workload(arch, workload)
    trace = Trace()
    loss = vlm_step(Ops(trace, trace_settings(arch, lora, count_parameters(arch, lora, inventory), inventory,
                                              workload)), arch, workload)
    return trace.peak(loss).peak - trace.input_bytes


def test_qwen2_vl_step(tmp_path):
    import torch

    config = vlm_config("qwen2_vl")
    config["image_token_id"] = 299
    arch = load_architecture(str(write_config(tmp_path, config)))
    documents = [{"pixel_values": torch.randn(16 * 12, 3 * 2 * 14 * 14), "image_grid_thw": torch.tensor([[1, 16, 12]])}
                 for _ in range(2)]
    workload = Workload(batch_size=2, seq_len=48, image_tokens=48, target_tokens=16, dtype="float32", device="cpu",
                        vision_images=((16 * 14, 12 * 14),))
    measured = profiled_vlm_step(config, documents, image_tokens=48, text=48, targets=16)
    assert _replayed_peak(arch, workload, 4) == pytest.approx(measured, rel=0.05)


def test_deepseek_ocr2_step_peaks_in_the_tower(tmp_path):
    import torch

    config = vlm_config("deepseek_ocr2")
    config["image_token_id"] = 299
    arch = load_architecture(str(write_config(tmp_path, config)))
    documents = [{"pixel_values": torch.randn(1, 3, 1024, 1024)}]
    workload = Workload(batch_size=1, seq_len=32, image_tokens=257, target_tokens=8, dtype="float32", device="cpu",
                        vision_images=((1024, 1024),))
    measured = profiled_vlm_step(config, documents, image_tokens=257, text=32, targets=8)
    assert _replayed_peak(arch, workload, 4) == pytest.approx(measured, rel=0.05)
