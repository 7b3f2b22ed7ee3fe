"""The model's own forward path (`vlm.own_forward`) on families the six do not cover, built tiny
(`tiny_any`): an image tokenizer (Chameleon's VQ-VAE, called through `vqmodel.encode`) has its
outputs cached and replayed like a vision tower; a model whose logits are not its input's next-token
predictions (DiffusionGemma's block-diffusion canvas) is refused by name instead of trained on noise."""

from __future__ import annotations

import pytest
import torch

from deepsynth.errors import DeepSynthError
from deepsynth.models.vlm.tiny_any import build_tiny_any
from tests.models.vlm.conftest import page


def build(folder):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=8),
                                LoraSettings(rank=4, alpha=8, dropout=0.0))


def test_an_image_tokenizer_is_cached_and_replayed_like_a_tower(tmp_path):
    model = build(build_tiny_any("chameleon", tmp_path / "chameleon"))
    assert model.caches_features and model.reader.towers == ["model.vqmodel"]
    documents = [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.")]]
    cached = model.collate(model.read_documents(documents), ["Read.", "Read."], ["a cat", "rivers"])
    assert all(document["tower"] for document in cached["documents"])
    model.reader.cache_features = False
    live = model.collate(model.read_documents(documents), ["Read.", "Read."], ["a cat", "rivers"])
    model.reader.cache_features = True
    assert not any(document["tower"] for document in live["documents"])
    encoder = model.decoder.get_base_model().get_submodule("model.vqmodel.encoder")
    calls = []
    handle = encoder.register_forward_hook(lambda *_: calls.append(1))
    model.eval()
    try:
        with torch.no_grad():
            from_cache = float(model(**cached))
            assert calls == []  # the VQ encoder did not run: its recorded codes stood in
            from_tower = float(model(**live))
            assert len(calls) == 2  # one document per call, the encoder ran for each
    finally:
        handle.remove()
    assert from_cache == pytest.approx(from_tower, rel=1e-5)


def test_a_block_diffusion_model_is_refused_by_name(tmp_path):
    model = build(build_tiny_any("diffusion_gemma", tmp_path / "diffusion_gemma"))
    batch = model.collate(model.read_documents([[page("A cat sat on the mat.")]]), ["Read."], ["a cat"])
    with pytest.raises(DeepSynthError, match="do not follow its input tokens"):
        model(**batch)


def test_multi_head_latent_attention_gets_its_query_and_key_value_up_projections(tmp_path):
    """dots3_note's attention (DeepSeek-V3 style) has no q_proj/v_proj: the defaults are q_b_proj and
    kv_b_proj, not every *_proj layer (which took its 4-wide gate and failed a rank of 16)."""
    import re

    from deepsynth.lora import LoraSettings
    from deepsynth.models.vlm.build import language_model_path, lora_targets, meta_skeleton

    model = meta_skeleton(str(build_tiny_any("dots3_note", tmp_path / "dots3_note")))
    lm_path = language_model_path(model)
    pattern = lora_targets(model, LoraSettings(rank=16, alpha=32, dropout=0.0), lm_path)
    chosen = {name for name, _ in model.named_modules() if re.fullmatch(pattern, name)}
    assert {name.rsplit(".", 1)[-1] for name in chosen} == {"q_b_proj", "kv_b_proj"}
    assert all(name.startswith(lm_path + ".") for name in chosen)


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["chameleon", "emu3", "dots3_note", "qwen3_omni_moe_thinker", "fuyu"])
def test_the_families_fixed_here_train_with_cached_features_equal_to_live(model_type, tmp_path):
    """Three steps with finite losses, and the cached-feature loss equal to the live one; Fuyu stops
    in its processor (the named transformers error of test_tiny_transformers_errors.py: its PIL image
    processor cannot patchify the tensor its processor hands it), after its LoRA targets are chosen."""
    from deepsynth.training.loop import TrainingLoop

    model = build(build_tiny_any(model_type, tmp_path / model_type))
    documents = [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.")]]
    if model_type == "fuyu":
        assert any(".query_key_value.lora_A" in name for name, _ in model.named_parameters())
        with pytest.raises(DeepSynthError, match="FuyuProcessor refused"):
            model.read_documents(documents)
        return
    batch = model.collate(model.read_documents(documents), ["Read.", "Read."], ["a cat", "rivers"])
    model.train()
    loop = TrainingLoop(model, learning_rate=1e-3, total_steps=3, schedule="constant")
    assert all(torch.isfinite(torch.tensor(loop.train_step(batch).loss)) for _ in range(3))
    assert model.caches_features
    model.eval()
    model.reader.cache_features = False
    live = model.collate(model.read_documents(documents), ["Read.", "Read."], ["a cat", "rivers"])
    model.reader.cache_features = True
    with torch.no_grad():
        assert float(model(**batch)) == pytest.approx(float(model(**live)), rel=1e-4)
