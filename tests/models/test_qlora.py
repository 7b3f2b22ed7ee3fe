"""QLoRA on CPU: bitsandbytes 4-bit layers appear when the tiny model loads quantized, and it trains."""

from __future__ import annotations

import torch

from deepsynth.lora import LoraSettings
from deepsynth.models import ModelConfig, build_document_model


def test_qlora_4bit_loads_linear4bit_and_trains_one_step(tiny_pages):
    import bitsandbytes as bnb

    lora = LoraSettings(rank=4, alpha=8, dropout=0.0, quantization="nf4", compute_dtype="float32")
    model = build_document_model(ModelConfig(name="tiny"), lora)
    quantized = [name for name, module in model.decoder.named_modules()
                 if isinstance(module, bnb.nn.Linear4bit)]
    assert any(name.endswith("q_proj.base_layer") for name in quantized)
    assert any(name.endswith("mlp.down_proj") for name in quantized)
    batch = model.collate(model.read_documents(tiny_pages), None, ["A cat.", "Rivers."])
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model(**batch)
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    changed = [n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(trainable[n], p)]
    assert any("lora_B" in n for n in changed)
