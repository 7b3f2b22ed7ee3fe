"""Activation checkpointing of the decoder while a CPU run trains: the memory of a step.

What a CPU training step holds is mostly the decoder's activations saved for the backward pass:
about 34 hidden-sized vectors per token per layer for a Llama-style block (norms, q/k/v, RoPE,
attention, the MLP's gate/up/act), so the demo's batch (4 x ~160 tokens through SmolLM2-135M's
30 layers) saved ~1.2 GB next to 0.54 GB of weights, and the process peaked at 2.4 GB. With
checkpointing (non-reentrant, `torch.utils.checkpoint`) each layer keeps only its input and
recomputes the rest during the backward pass: the step's activations shrink to one layer's.
The losses and gradients are bitwise those of the run without it (the recomputation repeats the
same CPU kernels, and non-reentrant checkpointing replays the RNG state, so LoRA dropout draws the
same masks); the price is one more forward pass through the decoder per step (measured
`bench/train_memory.py`). On CUDA nothing changes here (`models.build` decides for QLoRA, as before).
"""

from __future__ import annotations

from typing import Any

from deepsynth.estimate.workload import checkpoints_activations  # the rule, where the estimator reads it too

EVERY_N_LAYERS = 1
"""Checkpoint every decoder layer (2 would keep half the activations for half the recomputation)."""


def enable_activation_checkpointing(model: Any, device: str) -> bool:
    """Turn checkpointing on in the decoder of a `DocumentModel` training on `device` (when
    `checkpoints_activations` says so and the decoder supports it); True when it is on."""
    if not checkpoints_activations(device):
        return False
    decoder = getattr(model, "decoder", None)
    base = decoder.get_base_model() if decoder is not None and hasattr(decoder, "get_base_model") else decoder
    if base is None or not getattr(base, "supports_gradient_checkpointing", False):
        return False
    if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.x
        base.activation_checkpointing_enable({"use_reentrant": False}, every_n_layers=EVERY_N_LAYERS)
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return True
