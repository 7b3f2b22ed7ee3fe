"""Memory of a native VLM step: the tower costs nothing when its features are cached, QLoRA
quantizes the language model only (checked against bitsandbytes' storage), and the live-run hook
reads a DeepSynth VLM model and its batches."""

import copy
from types import SimpleNamespace

import pytest
from vlm_helpers import vlm_config, write_config

from deepsynth.estimate import (
    Workload,
    estimate,
    estimate_for_training,
    load_architecture,
)
from deepsynth.lora import LoraSettings, preset

WORKLOAD = dict(batch_size=2, seq_len=64, target_tokens=16, dtype="float32", device="cpu", page_width=512,
                page_height=724)


def _terms(folder, lora=None, train_projector=False, **workload):
    arch = load_architecture(str(folder), train_projector=train_projector)
    return estimate(arch, lora or LoraSettings(rank=4), Workload(**{**WORKLOAD, **workload})).memory.as_bytes()


GROW = {  # a bigger tower of each family
    "qwen2_vl": {"depth": 4, "mlp_ratio": 8},
    "smolvlm": {"num_hidden_layers": 4, "intermediate_size": 256},
    "deepseek_ocr2": {"sam_config": {**vlm_config("deepseek_ocr2")["vision_config"]["sam_config"],
                                     "num_attention_heads": 8}},
    "florence2": {"embed_dim": [48, 96]},
}


@pytest.mark.parametrize("family", sorted(GROW))
def test_cached_features_take_the_tower_out(tmp_path, family):
    """Cached: no tower working set whatever the tower's size (only the batch's features stay);
    uncached, a bigger tower costs at least as much (DeepSeek's SAM global attention: more)."""
    small = vlm_config(family)
    big = copy.deepcopy(small)
    big["vision_config"].update(GROW[family])
    folders = [write_config(tmp_path / name, config) for name, config in (("small", small), ("big", big))]
    cached = [_terms(folder, vision_cached=True)["activations"] for folder in folders]
    fresh = [_terms(folder)["activations"] for folder in folders]
    assert cached[0] == cached[1]
    assert fresh[1] >= fresh[0] > cached[0]
    if family == "deepseek_ocr2":  # 1024 px global view: 64 x 64 SAM tokens, a (heads, N, N) position bias
        assert fresh[1] > 2 * fresh[0]


def test_projector_copy_trains_and_counts(tmp_path):
    folder = write_config(tmp_path, vlm_config("qwen2_vl"))
    frozen, trained = _terms(folder), _terms(folder, train_projector=True)
    assert trained["adapters"] > frozen["adapters"] and trained["optimizer"] > frozen["optimizer"]
    assert trained["weights"] == frozen["weights"]  # the original stays beside its trainable copy
    assert trained["activations"] > frozen["activations"]  # the merger now keeps its inputs


def _stored_bytes(model) -> int:
    """Bytes of every parameter, with bitsandbytes' quantization constants."""
    total = 0
    for param in model.parameters():
        total += param.untyped_storage().nbytes()
        state = getattr(param, "quant_state", None)
        if state is not None:
            total += state.absmax.untyped_storage().nbytes() + state.code.untyped_storage().nbytes()
            if state.nested:
                total += state.state2.absmax.untyped_storage().nbytes() + state.state2.code.untyped_storage().nbytes()
                total += state.offset.untyped_storage().nbytes()
    return total


def test_qlora_quantizes_the_language_model_only(tmp_path):
    """As DeepSynth's VLM model loads it: bitsandbytes skips the tower, projector and LM head, then
    prepare_model_for_kbit_training casts what is not quantized to fp32."""
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoConfig, AutoModelForImageTextToText, BitsAndBytesConfig

    config = vlm_config("qwen2_vl")
    config["text_config"].update(hidden_size=128, intermediate_size=256)
    folder = write_config(tmp_path, config)
    AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(str(folder))).save_pretrained(str(folder))
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                      bnb_4bit_compute_dtype=torch.float32,
                                      llm_int8_skip_modules=["lm_head", "model.visual"])
    model = AutoModelForImageTextToText.from_pretrained(str(folder), quantization_config=quantization,
                                                        device_map="cpu")
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    assert not any(type(m).__name__ == "Linear4bit" for m in model.model.visual.modules())
    lora = preset("qlora_4bit", compute_dtype="float32")
    assert _terms(folder, lora)["weights"] == _stored_bytes(model)


def _tiny_vlm_run(folder, family, cached, train_projector=False):
    """A DeepSynth-VLM-like model object (PeftModel as `decoder`) and a collated batch."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(str(folder)))
    saved = ["merger" if family == "qwen2_vl" else "connector"] if train_projector else None
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model\..*\.(q_proj|v_proj)"
                                            if family == "qwen2_vl" else r".*text_model\..*\.(q_proj|v_proj)",
                                            modules_to_save=saved))
    image_token = model.config.image_token_id
    tokens = 16 if family == "qwen2_vl" else 5 * 16  # 8x8 patches merged 2x2; 4 tiles + global of 16 tokens
    ids = torch.randint(0, 200, (2, 40 + tokens))
    ids[:, 2:2 + tokens] = image_token
    labels = torch.full_like(ids, -100)
    labels[:, -12:] = 5
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0  # right padding, as DeepSynth's VLM model collates
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if cached:
        batch["image_features"] = torch.zeros(2 * tokens, 64)
    elif family == "qwen2_vl":
        batch["pixel_inputs"] = [{"pixel_values": torch.zeros(64, 3 * 2 * 14 * 14),
                                  "image_grid_thw": torch.tensor([[1, 8, 8]])}] * 2
    else:
        batch["pixel_inputs"] = [{"pixel_values": torch.zeros(1, 5, 3, 64, 64),
                                  "pixel_attention_mask": torch.ones(1, 5, 64, 64, dtype=torch.long)}] * 2
    return SimpleNamespace(decoder=peft, device="cpu"), batch, peft.get_nb_trainable_parameters()


@pytest.mark.parametrize("family,cached,train_projector", [("qwen2_vl", False, False), ("qwen2_vl", True, False),
                                                          ("smolvlm", False, True)])
def test_estimate_for_training_reads_a_vlm_run(tmp_path, family, cached, train_projector):
    config = vlm_config(family)
    if family == "smolvlm":
        config["vision_config"]["patch_size"] = 16  # 64 px tiles: 16 patches -> 4 tokens x scale 2 ... 16 tokens
        config["scale_factor"] = 1
    folder = write_config(tmp_path, config)
    model, batch, (trainable, total) = _tiny_vlm_run(folder, family, cached, train_projector)
    run = SimpleNamespace(model=SimpleNamespace(name=str(folder)), lora=LoraSettings(rank=4, alpha=8))
    result = estimate_for_training(config=run, model=model, batch=batch)
    assert (result["trainable_params"], result["total_params"]) == (trainable, total)
    assert result["total_bytes"] == result["memory_bytes"]["total"] - result["memory_bytes"]["overhead"]
    formula = result["memory_terms"]["activations"]["formula"]
    assert ("tower features cached" in formula) == cached
    assert result["throughput"]["tokens_per_step"] == 2 * int(batch["input_ids"].shape[1])
