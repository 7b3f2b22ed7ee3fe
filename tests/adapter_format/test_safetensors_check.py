"""Header parsing without trust, and the LoRA shapes PEFT really writes."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save

from deepsynth.errors import InputError
from deepsynth.adapter_format.safetensors_check import check_shapes, expected_adapter_shapes, parse_header, read_header


def raw(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_a_real_file_parses(tmp_path):
    path = tmp_path / "t.safetensors"
    path.write_bytes(save({"a": torch.zeros(2, 3), "b": torch.ones(4, dtype=torch.bfloat16)}, metadata={"format": "pt"}))
    header = read_header(path)
    assert header.shapes == {"a": (2, 3), "b": (4,)}
    assert header.tensors["b"].dtype == "BF16" and header.metadata == {"format": "pt"}


@pytest.mark.parametrize("data, message", [
    (raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4), r"truncated: tensors need 8"),
    (raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 12), r"has trailing bytes"),
    (raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4), r"needs 8 bytes, data_offsets span 4"),
    (raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
          "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, b"\0" * 6), r"'b' overlaps the previous tensor"),
    (raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8), r"'a' leaves a gap before it"),
    (raw({"a": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}, b"\0"), r"unknown dtype 'Q4'"),
    (raw({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}), r"non-negative integers"),
    (raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, b"\0" * 4), r"exactly dtype, shape"),
    (raw([1, 2]), r"must be a JSON object"),
    (struct.pack("<Q", 5) + b"{oops", r"not valid UTF-8 JSON"),
    (struct.pack("<Q", 100) + b"{}", r"header says 100 bytes but the file has only 2"),
    (struct.pack("<Q", 2**63), r"exceeds the 16,777,216-byte limit"),
    (b"\x80\x02}q\x00.", r"a pickle \(protocol 2\)"),
    (b"PK\x03\x04rest-of-zip", r"a ZIP archive \(the torch\.save format"),
    (b"abc", r"8-byte header length is missing"),
])
def test_malformed_headers_are_refused(data, message):
    with pytest.raises(InputError, match=message):
        parse_header(data, len(data), "w.safetensors")


def test_reading_a_huge_header_length_reads_only_eight_bytes(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"x" * 1000)
    with pytest.raises(InputError, match=r"1,099,511,627,776 bytes exceeds"):
        read_header(path)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_expected_shapes_match_what_peft_writes(family, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    if family == "llama":
        base = LlamaForCausalLM(LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2))
        config = LoraConfig(r=4, target_modules=["q_proj", "v_proj", "embed_tokens"], rank_pattern={"v_proj": 2},
                            modules_to_save=["lm_head"], use_dora=False)
    else:
        base = GPT2LMHeadModel(GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=4))
        config = LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True)
    model = get_peft_model(base, config)
    model.save_pretrained(str(tmp_path))
    header = read_header(tmp_path / "adapter_model.safetensors")
    adapter_config = json.loads((tmp_path / "adapter_config.json").read_text())
    expected = expected_adapter_shapes(model.get_base_model(), adapter_config, list(header.tensors))
    assert set(expected) == set(header.tensors)
    check_shapes(header, expected, "adapter")
    if family == "llama":
        assert header.shapes["base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight"] == (2, 32)
        assert header.shapes["base_model.model.model.embed_tokens.lora_embedding_A"] == (4, 100)
    else:
        assert header.shapes["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"] == (96, 4)
    wider_config = base.config.to_dict()
    wider_config.update({"hidden_size": 48} if family == "llama" else {"n_embd": 48})
    wider = type(base)(type(base.config)(**wider_config))  # the same family, another width
    with pytest.raises(InputError, match=r"has shape \[\d+, 32\], the base model expects \[\d+, 48\]"):
        check_shapes(header, expected_adapter_shapes(wider, adapter_config, list(header.tensors)), "adapter")
