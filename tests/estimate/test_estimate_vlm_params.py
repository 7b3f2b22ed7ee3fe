"""Native VLMs from config.json alone: parameter counts equal PEFT's on the real model (meta device),
default targets are the language model's as DeepSynth's VLM model picks them, config defaults are
transformers', and other vision-language families get a clear error."""

import pytest
from vlm_helpers import TINY_VLMS, meta_model, vlm_config, write_config

from deepsynth.errors import InputError
from deepsynth.estimate import VLM_FAMILIES, load_architecture, model_family
from deepsynth.estimate.builtin import architecture_from_config
from deepsynth.estimate.params import count_parameters
from deepsynth.lora import LoraSettings

CASES = [  # family, targets (() = DeepSynth's default), train the projector (modules_to_save), bias
    ("qwen2_vl", (), False, "none"),
    ("qwen2_vl", ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), True, "none"),
    ("qwen2_vl", ("model.visual.qkv", "model.visual.fc1"), False, "none"),  # vision-tower modules, by path
    ("qwen2_5_vl", (), True, "none"),
    ("qwen2_5_vl", ("model.visual.qkv", "down_proj", "model.visual.down_proj"), False, "lora_only"),
    ("smolvlm", (), False, "none"),
    ("smolvlm", ("q_proj", "out_proj", "embed_tokens", "lm_head"), True, "none"),
    ("idefics3", (), True, "all"),  # tied LM head
    ("idefics3", ("model.vision_model.fc1", "model.vision_model.fc2", "patch_embedding"), False, "none"),
    ("deepseek_ocr2", (), False, "none"),
    ("deepseek_ocr2", ("q_proj", "gate_proj", "experts.gate_up_proj", "model.vision_tower.qkv", "model.vision_tower.lin1"), True, "none"),
    ("florence2", (), True, "none"),
    ("florence2", ("q_proj", "fc1", "model.vision_tower.qkv", "image_projection", "shared"), False, "none"),
]


def _peft_counts(arch, config: dict, counted, lora: LoraSettings) -> tuple[int, int]:
    from peft import LoraConfig, get_peft_model

    model = meta_model(config)
    saved = [arch.vlm.projector_leaf] if arch.vlm.train_projector else None
    peft_config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, bias=lora.bias, modules_to_save=saved,
                             target_modules=list(counted.match.target_modules) or None,
                             target_parameters=list(counted.match.target_parameters) or None)
    return get_peft_model(model, peft_config).get_nb_trainable_parameters()


@pytest.mark.parametrize("family,targets,train_projector,bias", CASES)
def test_counts_equal_peft(tmp_path, family, targets, train_projector, bias):
    config = vlm_config(family)
    arch = architecture_from_config(write_config(tmp_path, config), train_projector=train_projector)
    lora = LoraSettings(rank=4, alpha=8, target_modules=targets, bias=bias)
    counted = count_parameters(arch, lora)
    assert (counted.trainable, counted.total) == _peft_counts(arch, config, counted, lora)
    assert counted.adapter > 0
    assert (counted.modules_to_save > 0) == train_projector


def _deepsynth_default_targets(model) -> list[str]:
    """DeepSynth's VLM rule (models/vlm/build.py): the text family's suffixes, else q_proj + v_proj,
    under the language model's path (found from the real model)."""
    import torch
    from peft.utils.constants import (
        TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as peft_table,
    )

    from deepsynth.models.builtin.decoder import FAMILY_TARGETS

    decoder = model.get_decoder()
    root = next(name for name, module in model.named_modules() if module is decoder)
    linear = [name for name, module in model.named_modules()
              if isinstance(module, torch.nn.Linear) and name.startswith(root + ".")]
    available = {name.rsplit(".", 1)[-1] for name in linear}
    text_type = model.config.get_text_config().model_type
    leaves = [leaf for leaf in FAMILY_TARGETS.get(text_type) or peft_table.get(text_type) or () if leaf in available]
    leaves = leaves or [leaf for leaf in ("q_proj", "v_proj") if leaf in available]
    return [name for name in linear if name.rsplit(".", 1)[-1] in leaves]


@pytest.mark.parametrize("family", sorted(TINY_VLMS))
def test_default_targets_stay_in_the_language_model(tmp_path, family):
    config = vlm_config(family)
    arch = architecture_from_config(write_config(tmp_path, config))
    counted = count_parameters(arch, LoraSettings(rank=4))
    assert sorted(counted.match.target_modules) == sorted(_deepsynth_default_targets(meta_model(config)))
    assert all(module.group == "decoder" for module in counted.match.adapted)
    assert set(counted.match.summary.split(" in ")[0].split(",")) == {"q_proj", "v_proj"}


def test_flat_hub_config_and_tied_head(tmp_path):
    """Hub Qwen2-VL configs keep the text keys at the top level and tie via the top-level flag."""
    flat = {"model_type": "qwen2_vl", **TINY_VLMS["qwen2_vl"]["text_config"], "tie_word_embeddings": True,
            "vision_config": TINY_VLMS["qwen2_vl"]["vision_config"]}
    arch = architecture_from_config(write_config(tmp_path, flat))
    assert arch.decoder.tie_word_embeddings and arch.decoder.hidden_size == 64
    lora = LoraSettings(rank=4, alpha=8, target_modules=("v_proj",))
    counted = count_parameters(arch, lora)
    assert (counted.trainable, counted.total) == _peft_counts(arch, flat, counted, lora)


@pytest.mark.parametrize("family", sorted(VLM_FAMILIES))
def test_config_defaults_match_transformers(tmp_path, family):
    """Keys missing from config.json take transformers' defaults (here: every key missing)."""
    from transformers import AutoConfig

    bare = {"model_type": family}
    if family == "deepseek_ocr2":  # the class default builds no model without these two
        bare["text_config"] = {"mlp_layer_types": ["dense"] + ["sparse"] * 31, "num_experts_per_tok": 6}
    arch = architecture_from_config(write_config(tmp_path, bare))
    reference = AutoConfig.for_model(family, **{k: v for k, v in bare.items() if k != "model_type"})
    text, vision, tower = reference.get_text_config(), reference.vision_config, arch.vlm.tower
    if family == "florence2":
        bart = arch.vlm.bart
        assert (bart.d_model, bart.encoder_layers, bart.decoder_layers, bart.vocab_size, bart.encoder_ffn) == (
            text.d_model, text.encoder_layers, text.decoder_layers, text.vocab_size, text.encoder_ffn_dim)
        assert (tower.embed_dim, tower.depths, tower.projection_dim) == (
            tuple(vision.embed_dim), tuple(vision.depths), vision.projection_dim)
        assert arch.decoder.tie_word_embeddings == reference.tie_word_embeddings
        return
    shape = arch.decoder
    assert (shape.hidden_size, shape.num_layers, shape.num_heads, shape.num_kv_heads, shape.vocab_size) == (
        text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads, text.vocab_size)
    assert shape.intermediate_size == text.intermediate_size
    assert shape.tie_word_embeddings == reference.tie_word_embeddings
    if family == "qwen2_vl":
        assert (tower.width, tower.depth, tower.heads, tower.out_width) == (
            vision.embed_dim, vision.depth, vision.num_heads, vision.hidden_size)
    elif family == "qwen2_5_vl":
        assert (tower.width, tower.depth, tower.mlp_width, tower.out_width, tower.full_attention_blocks) == (
            vision.hidden_size, vision.depth, vision.intermediate_size, vision.out_hidden_size,
            tuple(vision.fullatt_block_indexes))
    elif family in ("smolvlm", "idefics3"):
        assert (tower.width, tower.layers, tower.image_size, tower.patch_size, tower.scale_factor) == (
            vision.hidden_size, vision.num_hidden_layers, vision.image_size, vision.patch_size, reference.scale_factor)
    else:
        sam, encoder = vision.sam_config, vision.encoder_config
        assert (tower.sam.width, tower.sam.layers, tower.sam.global_blocks, tower.sam.downsample_channels) == (
            sam.hidden_size, sam.num_hidden_layers, tuple(sam.global_attn_indexes), tuple(sam.downsample_channels))
        assert (tower.encoder.hidden_size, tower.encoder.num_layers, tower.encoder.num_kv_heads) == (
            encoder.hidden_size, encoder.num_hidden_layers, encoder.num_key_value_heads)
        assert (shape.num_experts, shape.moe_intermediate_size) == (text.n_routed_experts, text.moe_intermediate_size)


def test_a_family_without_a_description_is_described_from_its_structure(tmp_path):
    write_config(tmp_path / "llava", {"model_type": "llava", "vision_config": {"model_type": "clip_vision_model"},
                                      "text_config": {"model_type": "llama"}})
    arch = load_architecture(str(tmp_path / "llava"))
    assert arch.vlm is None and arch.structure is not None and arch.native_vlm
    assert arch.structure.language_root == "model.language_model"
    assert arch.structure.tower == "model.vision_tower"
    write_config(tmp_path / "unknown", {"model_type": "no_such_vlm", "vision_config": {}})
    with pytest.raises(InputError) as error:  # one that transformers cannot build: named, with its file
        load_architecture(str(tmp_path / "unknown"))
    message = str(error.value)
    assert "config.json" in message and "transformers cannot build" in message


def test_family_names_for_display(tmp_path):
    for family, name in (("qwen2_5_vl", "Qwen2.5-VL"), ("deepseek_ocr2", "DeepSeek-OCR-2"), ("florence2", "Florence-2")):
        folder = write_config(tmp_path / family, vlm_config(family))
        assert model_family(str(folder)) == name
    assert model_family("smollm2-135m") == "llama"
