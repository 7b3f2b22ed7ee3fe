"""GGUF -> cached safetensors folder: loadable without quantization_config, and never half-written."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    """A stand-in GGUF: transformers' loaders are patched to return the tiny model instead."""
    import transformers

    from deepsynth.models.builtin.tiny import tiny_decoder, tiny_tokenizer

    gguf = tmp_path / "src" / "model.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF not really")
    calls = []

    def fake_model(folder, gguf_file=None, **kwargs):
        calls.append(gguf_file)
        model = tiny_decoder(len(tiny_tokenizer()))
        model.config.quantization_config = {"quant_method": "gguf"}  # what a GGUF load leaves
        return model

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tiny_tokenizer())
    return gguf, calls


def test_convert_writes_a_plain_safetensors_folder(fake_gguf, tmp_path, monkeypatch):
    from deepsynth.models.builtin.conversion import MARKER, convert

    gguf, calls = fake_gguf
    target = tmp_path / "cache" / "converted"
    convert(gguf, target)
    assert calls == ["model.gguf"]
    config = json.loads((target / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert json.loads((target / MARKER).read_text())["source"] == "model.gguf"
    monkeypatch.undo()  # the real loader reads the converted folder
    from transformers import AutoModelForCausalLM

    from deepsynth.models.builtin.tiny import tiny_decoder, tiny_tokenizer

    reloaded = AutoModelForCausalLM.from_pretrained(str(target))
    original = tiny_decoder(len(tiny_tokenizer()))
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, original(input_ids=ids).logits)


def test_a_crash_during_conversion_leaves_nothing(fake_gguf, tmp_path, monkeypatch):
    import safetensors.torch

    from deepsynth.models.builtin.conversion import convert

    gguf, _ = fake_gguf

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_model", crash)
    target = tmp_path / "cache" / "converted"
    with pytest.raises(OSError, match="disk full"):
        convert(gguf, target)
    assert list((tmp_path / "cache").iterdir()) == []
