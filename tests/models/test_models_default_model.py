"""The real embedded default (english_g2 + SmolLM2-135M-Instruct): one short end-to-end check."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


def test_default_model_reads_trains_saves_and_reloads(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.render import RenderConfig, render_document

    model = build_document_model(ModelConfig(max_source_tokens=64, max_target_tokens=8),
                                 LoraSettings(rank=4, alpha=8, dropout=0.0))
    assert model.tokenizer.chat_template and model.identity["decoder"] == "SmolLM2-135M-Instruct"
    text = "The Nile is a major north-flowing river in northeastern Africa."
    reading = model.read_pages(render_document(text, RenderConfig()).pages)
    assert reading.text == text
    batch = model.collate([reading], ["Name the river."], ["The Nile."])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    first = model(**batch)
    first.backward()
    optimizer.step()
    with torch.no_grad():
        assert float(model(**batch)) < float(first)
    generated = model.generate(model.collate([reading], ["Name the river."]), max_new_tokens=6)
    assert len(generated) == 1 and generated[0]

    folder = model.save_adapter(tmp_path / "adapter")
    base = AutoModelForCausalLM.from_pretrained(model.identity["path"], dtype=torch.float32)
    vanilla = PeftModel.from_pretrained(base, str(folder)).eval()
    ids = batch["input_ids"][:, -16:]
    with torch.no_grad():
        torch.testing.assert_close(vanilla(input_ids=ids).logits, model.decoder.eval()(input_ids=ids).logits)
