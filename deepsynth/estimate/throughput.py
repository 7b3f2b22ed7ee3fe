"""Training speed from FLOPs: tokens per second, time for the dataset, and its cost.

Matmul FLOPs per token (Kaplan et al. 2020, arXiv 2001.08361 sec. 2.1; PaLM, arXiv 2204.02311
appendix B): the forward costs 2 FLOPs per weight it uses. The backward costs 2 more per weight for
the gradient of the activations, which flows through frozen weights too, and 2 more only for weights
that train. So a frozen weight costs ~4 FLOPs per token and a trainable one 6 (the "6N" rule);
gradient checkpointing adds one more forward (2). Attention adds 12 x layers x query width x
sequence per token (PaLM). The LM head runs on the target tokens only. Time = FLOPs / (peak x
utilisation); utilisation is a stated assumption (0.35 by default: typical for LoRA fine-tuning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.gpus import Gpu
from deepsynth.estimate.inventory import CONV1D, EXPERTS, LINEAR, Inventory
from deepsynth.estimate.params import ParameterCount, adapter_size
from deepsynth.estimate.workload import Workload

DEFAULT_UTILIZATION = 0.35


@dataclass(frozen=True)
class Throughput:
    gpu: str
    """GPU the prediction is for."""
    utilization: float
    """Fraction of peak FLOPs assumed achieved."""
    flops_per_step: float
    tokens_per_step: int
    """Decoder tokens (text + image) per optimizer step."""
    step_seconds: float
    tokens_per_second: float
    steps: int
    """Optimizer steps for `num_documents` x `epochs`."""
    hours: float
    cost: float
    """hours x the GPU's price per hour (USD)."""
    peak_tflops: float = 0.0
    """The peak the prediction used: the GPU's figure for the workload's precision (`Gpu.peak_for`)."""
    price_per_hour: float = 0.0
    """The price per hour the cost used (USD)."""


def active_weights_per_token(arch: Architecture, inventory: Inventory) -> float:
    """Decoder matmul weights one token passes through (MoE: k of E experts); no embeddings, no LM head.
    (A VLM's language model is the `decoder` group; its tower is counted in `vlm/flops.py`.)"""
    shape = arch.decoder
    total = 0.0
    for m in inventory.modules:
        if m.group != "decoder" or m.kind not in (LINEAR, CONV1D, EXPERTS) or m.name.endswith("lm_head"):
            continue
        weights = m.in_features * m.out_features
        if m.kind == EXPERTS:
            weights *= shape.experts_per_token  # each token visits k experts of the fused stack
        elif ".experts." in m.name:
            weights *= shape.experts_per_token / shape.num_experts  # one of E expert modules
        total += weights
    return total


def flops_per_step(arch: Architecture, inventory: Inventory, params: ParameterCount, workload: Workload,
                   lora_rank: int, text_encoder_params: int = 0) -> float:
    shape, b = arch.decoder, workload.batch_size
    tokens = workload.decoder_tokens
    frozen = active_weights_per_token(arch, inventory)
    adapters = sum(adapter_size(m, lora_rank) * (shape.experts_per_token / shape.num_experts if ".experts." in m.name else 1)
                   for m in params.match.adapted if m.group == "decoder")
    per_token = (4 + (2 if workload.gradient_checkpointing else 0)) * frozen + 6 * adapters
    per_token += 12 * shape.num_layers * shape.q_width * tokens  # attention scores and values
    flops = b * tokens * per_token
    if arch.vlm is not None and arch.vlm.bart is not None:
        # encoder-decoder: the decoder's weights see the summary only, not the image + prompt tokens
        decoder = sum(m.in_features * m.out_features for m in inventory.modules
                      if m.group == "decoder" and ".decoder." in m.name and m.kind == LINEAR)
        flops -= b * (tokens - workload.target_tokens) * (4 + (2 if workload.gradient_checkpointing else 0)) * decoder
    if arch.vlm is not None and workload.image_tokens:
        from deepsynth.estimate.vlm.flops import tower_flops
        from deepsynth.estimate.vlm.step import sample_images

        trains = arch.vlm.train_projector
        if not workload.vision_cached:
            flops += b * tower_flops(arch, inventory, list(sample_images(arch, workload)), trains,
                                     max(1, workload.pages))
    flops += b * workload.target_tokens * 4 * shape.hidden_size * shape.vocab_size  # LM head, frozen
    if arch.projector is not None and workload.image_tokens:
        weights = sum(in_f * out_f for _, in_f, out_f, _ in arch.projector.layers())
        flops += b * workload.image_tokens * 6 * weights
    if arch.vision is not None and arch.vision.kind == "deepencoder" and workload.image_tokens:
        pages = math.ceil(workload.image_tokens / arch.vision.tokens_per_page)
        sam = sum(p.numel for p in inventory.parameters if p.name.startswith("model.sam_model."))
        clip = sum(p.numel for p in inventory.parameters if p.name.startswith("model.vision_model."))
        # forward only, no gradients: SAM-base sees 4096 patches of a 1024x1024 page, CLIP-large the
        # 256 compressed tokens + class token (arXiv 2510.18234 sec. 3.2)
        flops += b * pages * 2 * (sam * 4096 + clip * 257)
    if text_encoder_params:
        factor = 6 if workload.train_text_encoder else 2
        flops += b * workload.instruction_tokens * factor * text_encoder_params
    return flops


def predict(flops: float, workload: Workload, gpu: Gpu, utilization: float = DEFAULT_UTILIZATION) -> Throughput | None:
    peak = gpu.peak_for(workload.dtype)
    if peak <= 0:
        return None
    tokens = workload.batch_size * workload.decoder_tokens
    step = flops / (peak * 1e12 * utilization)
    steps = math.ceil(workload.num_documents / workload.batch_size) * workload.epochs
    hours = steps * step / 3600
    return Throughput(gpu.name, utilization, flops, tokens, step, tokens / step, steps, hours, hours * gpu.price_per_hour,
                      peak, gpu.price_per_hour)
