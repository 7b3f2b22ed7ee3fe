"""Shared test helper: tiny DocumentModel adapters whose LoRA visibly changes the output."""

from __future__ import annotations

from pathlib import Path

import torch


def build_tiny_adapter(folder: Path, seed: int, render_config=None) -> Path:
    """A tiny adapter with B drawn from a seeded normal (so tuned != base); `render_config` is
    recorded in its card as training writes it."""
    from deepsynth.configuration import to_dict
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_document_model(ModelConfig(name="tiny"), LoraSettings(rank=4, dropout=0.0), "cpu")
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0, 0.3)
    extra = {"render": to_dict(render_config)} if render_config is not None else {}
    return model.save_adapter(folder, extra=extra)
