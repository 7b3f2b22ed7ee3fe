"""LoRA stays on the modules DeepSynth chose when PEFT rewrites the targets of a model whose MoE
experts transformers v5 fused: PEFT turns a regex `target_modules` into the leaf names it matched
(peft/utils/transformers_weight_conversion.py), which as suffixes also reach the audio tower of
Qwen3-Omni's thinker. `exclude_modules` (saved with the adapter) keeps plain PEFT there too."""

from __future__ import annotations

import pytest

from deepsynth.models.vlm.tiny_any import build_tiny_any

FAMILY = "qwen3_omni_moe_thinker"
PEFT_PREFIX = "base_model.model."


@pytest.fixture(scope="module")
def omni_folder(tmp_path_factory):
    return build_tiny_any(FAMILY, tmp_path_factory.mktemp("omni") / FAMILY)


def lora_modules(peft_model) -> set[str]:
    return {name[len(PEFT_PREFIX):] for name, module in peft_model.named_modules()
            if hasattr(module, "lora_A") and len(module.lora_A)}


@pytest.mark.parametrize("targets", [(), ("q_proj", "v_proj")])
def test_lora_reaches_the_language_model_only_and_plain_peft_reloads_it_there(omni_folder, targets, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    model = build_document_model(ModelConfig(name=str(omni_folder), max_target_tokens=8),
                                 LoraSettings(rank=4, alpha=8, dropout=0.0, target_modules=targets))
    lm_path = model.identity["language_model"]
    placed = lora_modules(model.decoder)
    audio = [name for name, _ in model.decoder.get_base_model().named_modules() if "audio" in name]
    assert audio, "the tiny thinker has an audio tower (else this test proves nothing)"
    assert placed and all(name.startswith(lm_path + ".") for name in placed), sorted(placed)[:4]
    assert {name.rsplit(".", 1)[-1] for name in placed} == {"q_proj", "v_proj"}
    model.decoder.save_pretrained(str(tmp_path / "adapter"))
    base = AutoModelForImageTextToText.from_pretrained(str(omni_folder))
    assert lora_modules(PeftModel.from_pretrained(base, str(tmp_path / "adapter"))) == placed
