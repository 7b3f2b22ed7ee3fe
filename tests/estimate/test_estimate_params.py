"""Parameter counts equal PEFT's own count, model by model and target list by target list."""

import json

import pytest

from deepsynth.configuration import ConfigError
from deepsynth.estimate.builtin import architecture_from_config
from deepsynth.estimate.builtin import deepseek_ocr, default_model, smollm2_135m
from deepsynth.estimate.params import count_parameters, default_targets, validate_lora_for
from deepsynth.lora import LoraSettings

from estimate_helpers import TINY_CONFIGS

CASES = [
    ("llama", ("q_proj", "v_proj"), "none"),
    ("llama", ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), "none"),
    ("llama", ("embed_tokens", "lm_head", "layers.1.mlp.down_proj"), "none"),
    ("llama_tied_bias", ("q_proj", "down_proj", "lm_head"), "lora_only"),
    ("llama_tied_bias", ("v_proj",), "all"),
    ("mistral", ("k_proj", "o_proj", "up_proj"), "none"),
    ("qwen2", ("q_proj", "v_proj"), "all"),
    ("qwen2", ("q_proj", "k_proj"), "lora_only"),
    ("qwen3", ("q_proj", "v_proj", "gate_proj"), "none"),
    ("gpt2", ("c_attn",), "none"),
    ("gpt2", ("c_attn", "c_proj", "c_fc", "wte"), "all"),
    ("bert", ("query", "value"), "none"),
    ("bert", ("query", "key", "value", "dense"), "lora_only"),
    ("qwen2_moe", ("q_proj", "gate_proj", "up_proj", "down_proj", "shared_expert_gate"), "none"),
    ("qwen2_moe", ("v_proj", "experts.gate_up_proj", "experts.down_proj"), "none"),
    # PEFT 0.21 moves v4 expert names onto the fused experts for deepseek_v2 (gate+up: rank 2r)
    ("deepseek_v2", ("q_b_proj", "kv_b_proj", "o_proj", "gate_proj", "up_proj"), "none"),
    ("deepseek_v2", ("kv_a_proj_with_mqa", "down_proj"), "none"),
    ("deepseek_v2", ("q_a_proj", "experts.gate_up_proj"), "none"),
]


def _peft_counts(config: dict, lora: LoraSettings, target_modules, target_parameters):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    values = dict(config)
    family = values.pop("model_type")
    hf_config = AutoConfig.for_model(family, **values)
    with torch.device("meta"):
        if family == "bert":
            model = AutoModel.from_config(hf_config)
        else:
            model = AutoModelForCausalLM.from_config(hf_config)
    peft_config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, bias=lora.bias,
                             target_modules=list(target_modules) or None,
                             target_parameters=list(target_parameters) or None)
    return get_peft_model(model, peft_config).get_nb_trainable_parameters()


@pytest.mark.parametrize("family,targets,bias", CASES)
def test_counts_equal_peft(tmp_path, family, targets, bias):
    config = TINY_CONFIGS[family]
    (tmp_path / "config.json").write_text(json.dumps(config))
    arch = architecture_from_config(tmp_path)
    lora = LoraSettings(rank=4, alpha=8, target_modules=targets, bias=bias)
    counted = count_parameters(arch, lora)
    peft_trainable, peft_total = _peft_counts(config, lora, counted.match.target_modules,
                                              counted.match.target_parameters)
    assert (counted.trainable, counted.total) == (peft_trainable, peft_total)
    assert counted.adapter > 0


def test_fused_experts_count_only_when_named_as_parameters(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIGS["qwen2_moe"]))
    arch = architecture_from_config(tmp_path)
    by_module = count_parameters(arch, LoraSettings(rank=4, target_modules=("down_proj",)))
    with_experts = count_parameters(arch, LoraSettings(rank=4, target_modules=("down_proj", "experts.down_proj")))
    assert with_experts.match.target_parameters == ("experts.down_proj",)
    # 2 sparse layers x rank 4 x 4 experts x (in 16 + out 32)
    assert with_experts.adapter - by_module.adapter == 2 * 4 * 4 * (16 + 32)


def test_deepseek_ocr_counts_every_expert_module():
    arch = deepseek_ocr()
    count = count_parameters(arch, LoraSettings(rank=16, target_modules=("gate_proj",)))
    # layer 0 dense (1280 -> 6848), 11 MoE layers x (64 experts (-> 896) + fused shared (-> 1792))
    expected = 16 * ((1280 + 6848) + 11 * (64 * (1280 + 896) + (1280 + 1792)))
    assert count.adapter == expected
    assert count.base == 3_336_106_240  # = safetensors index total_size 6,672,212,480 B / 2 (bf16)


def test_builtin_totals():
    assert smollm2_135m().decoder.vocab_size == 49152
    assert count_parameters(smollm2_135m(), LoraSettings()).base == 134_515_008  # GGUF tensor elements
    default = count_parameters(default_model(), LoraSettings())
    assert default.by_group == {"vision": 3_781_345, "decoder": 134_515_008}
    features = count_parameters(default_model("features"), LoraSettings(rank=8))
    soft_characters = (256 * 97 + 97) + 97 * 576  # CTC head (with bias) + character embeddings
    assert features.by_group["projector"] == soft_characters
    assert features.trainable == features.adapter + soft_characters


def test_default_targets_follow_peft():
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping

    for family in ("llama", "mistral", "qwen2", "qwen3", "gpt2", "bert"):
        shape = smollm2_135m().decoder.__class__(**{**smollm2_135m().decoder.__dict__, "family": family})
        assert list(default_targets(shape)) == mapping[family]


def test_validation_lists_unmatched_targets_and_rank():
    arch = smollm2_135m()
    with pytest.raises(ConfigError) as error:
        validate_lora_for(arch, LoraSettings(rank=4, target_modules=("q_proj", "qkv", "c_attn")))
    assert error.value.for_field("target_modules")
    message = error.value.for_field("target_modules")[0]
    assert "qkv" in message and "c_attn" in message and "q_proj," not in message.split("(")[0]
    # k_proj is 576 -> 192: rank 193 is too big, 192 fits
    with pytest.raises(ConfigError) as error:
        validate_lora_for(arch, LoraSettings(rank=193, target_modules=("k_proj",)))
    assert "192" in error.value.for_field("rank")[0]
    validate_lora_for(arch, LoraSettings(rank=192, target_modules=("k_proj",)))


def test_validation_collects_both_problems_at_once():
    with pytest.raises(ConfigError) as error:
        validate_lora_for(smollm2_135m(), LoraSettings(rank=1000, target_modules=("v_proj", "nope")))
    assert {field for field, _ in error.value.problems} == {"target_modules", "rank"}


def test_peft_refuses_half_of_a_fused_pair(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIGS["deepseek_v2"]))
    arch = architecture_from_config(tmp_path)
    with pytest.raises(ConfigError, match="gate_proj is fused with up_proj"):
        validate_lora_for(arch, LoraSettings(rank=4, target_modules=("q_b_proj", "gate_proj")))
