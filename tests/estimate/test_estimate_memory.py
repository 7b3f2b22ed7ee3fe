"""Memory terms: invariants, and the quantized-storage formula against bitsandbytes itself."""

import dataclasses

import pytest

from deepsynth.estimate import Workload, estimate, load_architecture
from deepsynth.estimate.memory import quantized_bytes
from deepsynth.lora import LoraSettings, preset

SMOL = load_architecture("smollm2-135m")


def terms(lora=None, **workload):
    base = dict(batch_size=2, seq_len=256, target_tokens=48)
    return estimate(SMOL, lora or preset("standard"), Workload(**{**base, **workload})).memory.as_bytes()


def test_weights_order_4bit_below_8bit_below_bf16():
    nf4 = terms(preset("qlora_4bit"))["weights"]
    int8 = terms(preset("qlora_8bit"))["weights"]
    bf16 = terms(preset("standard"))["weights"]
    assert nf4 < int8 < bf16
    # only Linear weights are quantized; embeddings and norms stay (fp32 after k-bit preparation)
    assert bf16 == 2 * SMOL_PARAMS


SMOL_PARAMS = 134_515_008


def test_double_quantization_shrinks_the_constants():
    single = terms(dataclasses.replace(preset("qlora_4bit"), double_quantization=False))["weights"]
    double = terms(preset("qlora_4bit"))["weights"]
    assert double < single


def test_doubling_batch_raises_activations_only():
    one, two = terms(batch_size=2), terms(batch_size=4)
    assert two["activations"] > 1.9 * one["activations"]
    for name in ("weights", "adapters", "gradients", "optimizer", "text_encoder", "overhead"):
        assert one[name] == two[name], name


def test_gradient_checkpointing_lowers_activations():
    assert terms(gradient_checkpointing=True)["activations"] < 0.5 * terms()["activations"]


def test_eager_attention_and_padding_cost_more_than_flash():
    flash = terms(seq_len=1024)["activations"]
    assert terms(seq_len=1024, attention="eager")["activations"] > 2 * flash
    assert terms(seq_len=1024, padded=True)["activations"] > flash


def test_adamw8bit_and_rank():
    assert terms(optimizer="adamw8bit")["optimizer"] < terms()["optimizer"] / 3
    r64 = terms(LoraSettings(rank=64, alpha=128))
    r16 = terms(LoraSettings(rank=16, alpha=32))
    assert r64["adapters"] == 4 * r16["adapters"]
    assert r64["total"] - r16["total"] < 0.1 * r16["total"]  # activations dominate, as measured


def test_text_encoder_term():
    frozen = terms(text_encoder="minilm")["text_encoder"]
    trained = terms(text_encoder="minilm", train_text_encoder=True)["text_encoder"]
    assert 0 < frozen < trained
    assert terms()["text_encoder"] == 0


@pytest.mark.parametrize("quant,double", [("nf4", False), ("nf4", True), ("fp4", True), ("int8", False)])
def test_quantized_bytes_equal_bitsandbytes_storage(tmp_path, quant, double):
    import torch
    from transformers import BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=128, hidden_size=128, intermediate_size=320, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    if quant == "int8":
        quantization = BitsAndBytesConfig(load_in_8bit=True)
    else:
        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant,
                                          bnb_4bit_use_double_quant=double, bnb_4bit_compute_dtype=torch.float32)
    model = LlamaForCausalLM.from_pretrained(tmp_path, quantization_config=quantization, device_map="cpu")
    layer = model.model.layers[0].mlp.down_proj
    weight = layer.weight
    stored = weight.untyped_storage().nbytes()
    if quant == "int8":
        stored += weight.SCB.untyped_storage().nbytes()
    else:
        state = weight.quant_state
        stored += state.absmax.untyped_storage().nbytes() + state.code.untyped_storage().nbytes()
        if state.nested:
            nested = state.state2
            stored += nested.absmax.untyped_storage().nbytes() + nested.code.untyped_storage().nbytes()
            stored += state.offset.untyped_storage().nbytes()
    assert quantized_bytes(128 * 320, 128, quant, double) == stored
