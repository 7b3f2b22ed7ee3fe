"""`deepsynth export --merge` checks the merged logits against the unmerged model's on a probe; a VLM
whose forward needs the image (BLIP's text decoder cross-attends to it; UDOP's encoder needs a box
per token) is probed on a blank page through its own processor, and the merged folder loads in plain
transformers."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.parametrize("family", ["blip", "udop"])
def test_a_vlm_whose_forward_needs_the_page_merges_and_loads_in_plain_transformers(family, tmp_path):
    from transformers import AutoModelForImageTextToText

    from deepsynth.export.merge import write_merged
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.models.vlm.tiny_any import build_tiny_any

    base = build_tiny_any(family, tmp_path / "base")
    model = build_document_model(ModelConfig(name=str(base), max_target_tokens=8), LoraSettings(rank=4, alpha=8, dropout=0.0))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.2, generator=torch.Generator().manual_seed(3))
    adapter = model.save_adapter(tmp_path / "adapter")
    report = write_merged(adapter, tmp_path / "merged", dtype="float32")
    assert report["adapter_effect"] > 0  # the probe reached the language model's LoRA
    assert report["merged_gap"] <= report["tolerance"]
    merged = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "merged"))
    assert type(merged).__name__ == type(model.decoder.get_base_model()).__name__
