"""What families beyond the six need from DeepSynth's VLM code, without a tiny model: default LoRA
targets for query/value names other than q_proj/v_proj, image features as a list or one tensor,
and the generic tiny-config shrinker (models/vlm/tiny_any.py)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from torch import nn


class _Attention(nn.Module):
    def __init__(self, names):
        super().__init__()
        for name in names:
            setattr(self, name, nn.Linear(8, 8))


class _Vlm(nn.Module):
    """A VLM-shaped module: a language model whose attention names its maps `names`, and a tower
    with the same names (which default targets must not reach)."""

    def __init__(self, names):
        super().__init__()
        self.language_model = nn.ModuleDict({"layer": _Attention(names)})
        self.vision_tower = nn.ModuleDict({"layer": _Attention(names)})
        self.config = SimpleNamespace(get_text_config=lambda: SimpleNamespace(model_type="no_such_family"))

    def get_decoder(self):
        return self.language_model


@pytest.mark.parametrize(("names", "chosen"), [
    (("q_proj", "k_proj", "v_proj", "o_proj"), {"q_proj", "v_proj"}),
    (("query", "key", "value", "output"), {"query", "value"}),
    (("q", "k", "v", "o"), {"q", "v"}),
    (("qkv", "out_proj"), {"qkv"}),
    (("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"), {"query_key_value"}),
    (("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "g_proj"), {"q_b_proj", "kv_b_proj"}),
    (("q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"), {"q_proj", "kv_b_proj"}),
])
def test_default_targets_are_the_language_models_query_and_value_maps(names, chosen):
    from deepsynth.lora import LoraSettings
    from deepsynth.models.vlm.build import language_model_path, lora_targets

    model = _Vlm(names)
    lm_path = language_model_path(model)
    pattern = lora_targets(model, LoraSettings(rank=2, alpha=4, dropout=0.0), lm_path)
    matched = {name for name, _ in model.named_modules() if re.fullmatch(pattern, name)}
    assert {name.rsplit(".", 1)[-1] for name in matched} == chosen
    assert all(name.startswith("language_model.") for name in matched)


def test_image_features_act_as_a_list_and_as_their_concatenation():
    from deepsynth.models.vlm.model import ImageFeatures

    parts = [torch.ones(2, 4), torch.zeros(3, 4)]
    features = ImageFeatures(parts)
    assert torch.equal(torch.cat(features), torch.cat(parts))  # families that concatenate the list
    assert features.shape == (5, 4)  # families that take it as one tensor
    assert torch.equal(features.to(torch.float64), torch.cat(parts).double())


def test_shrink_config_cuts_widths_depths_and_per_layer_lists_in_every_sub_config():
    from transformers import Qwen2VLConfig

    from deepsynth.models.vlm.tiny_any import HEAD_DIM, TEXT_WIDTH, VISION_WIDTH, _fit_mrope, shrink_config

    config = Qwen2VLConfig()
    shrink_config(config, TEXT_WIDTH)
    _fit_mrope(config, "qwen2_vl")  # its code falls back to a full-size mrope_section
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (TEXT_WIDTH, 2, TEXT_WIDTH // HEAD_DIM)
    assert len(text.layer_types) == 2
    assert sum(text.rope_parameters["mrope_section"]) == HEAD_DIM // 2
    assert vision.embed_dim == VISION_WIDTH and vision.depth == 2 and vision.num_heads == VISION_WIDTH // HEAD_DIM
