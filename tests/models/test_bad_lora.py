"""Out-of-range LoRA values and target modules the model lacks: one clear ConfigError naming each
field, before PEFT builds anything (bad-input catalogue)."""

from __future__ import annotations

import pytest

from deepsynth.configuration import ConfigError
from deepsynth.lora import LoraSettings, preset
from deepsynth.models import ModelConfig, build_document_model


def test_out_of_range_values_are_all_named_at_once():
    with pytest.raises(ConfigError) as caught:
        LoraSettings(rank=0, alpha=-1.0, dropout=1.0, bias="some", quantization="int3",
                     compute_dtype="float8", double_quantization=True, target_modules=("q_proj;rm -rf", ""))
    assert [field for field, _ in caught.value.problems] == [
        "rank", "alpha", "dropout", "bias", "quantization", "compute_dtype", "double_quantization",
        "target_modules"]
    assert "must be in [0, 1), got 1.0" in caught.value.for_field("dropout")[0]
    assert "'q_proj;rm -rf'" in caught.value.for_field("target_modules")[0]
    with pytest.raises(ConfigError, match=r"rank: must be an integer >= 1, got 2.5"):
        preset("minimal", rank=2.5)


def test_unknown_target_modules_are_named_with_the_layers_the_model_has():
    with pytest.raises(ConfigError) as caught:
        build_document_model(ModelConfig(name="tiny"), LoraSettings(rank=4, target_modules=("q_proj", "qkv", "c_attn")))
    message = caught.value.for_field("target_modules")[0]
    assert message.startswith("no linear layer of this model matches qkv, c_attn")
    assert "k_proj" in message and "v_proj" in message  # what it could have named


def test_a_rank_wider_than_the_targeted_layers_is_refused():
    # the tiny Llama's v_proj maps 64 -> 32 (2 key/value heads of 16)
    with pytest.raises(ConfigError, match=r"rank: rank 33 exceeds the smallest targeted dimension \(32\)"):
        build_document_model(ModelConfig(name="tiny"), LoraSettings(rank=33, target_modules=("q_proj", "v_proj")))
    model = build_document_model(ModelConfig(name="tiny"), LoraSettings(rank=32, target_modules=("v_proj",)))
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_dotted_targets_match_like_peft():
    model = build_document_model(ModelConfig(name="tiny"), LoraSettings(rank=2, target_modules=("self_attn.q_proj",)))
    adapted = {name.split(".lora_")[0].rsplit(".", 1)[-1] for name, _ in model.named_parameters() if "lora_A" in name}
    assert adapted == {"q_proj"}
    with pytest.raises(ConfigError, match="matches mlp.q_proj"):
        build_document_model(ModelConfig(name="tiny"), LoraSettings(rank=2, target_modules=("mlp.q_proj",)))
