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
