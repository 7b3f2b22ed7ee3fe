"""Merging: the merged decoder computes what base + adapter computes."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch

from deepsynth.errors import DeepSynthError
from deepsynth.export.merge import merge_adapter, write_merged
from deepsynth.export.package import export_package


def unmerged_decoder(adapter_dir):
    """The tiny base (float32, as training ran on CPU) with the adapter loaded by PEFT."""
    from peft import PeftModel

    from deepsynth.models.builtin.tiny import tiny_decoder, tiny_tokenizer

    return PeftModel.from_pretrained(tiny_decoder(len(tiny_tokenizer())), str(adapter_dir)).eval()


def logits(model, ids):
    with torch.inference_mode():
        return model(input_ids=ids).logits.float()


IDS = torch.randint(3, 250, (2, 40), generator=torch.Generator().manual_seed(0))


def test_a_float32_merge_gives_the_unmerged_logits(tiny_adapter_dir):
    merged, _, report = merge_adapter(tiny_adapter_dir, dtype="float32")
    reference = unmerged_decoder(tiny_adapter_dir)
    assert not any("lora_" in name for name, _ in merged.named_parameters())
    assert torch.allclose(logits(merged, IDS), logits(reference, IDS), atol=1e-4, rtol=1e-4)
    with reference.disable_adapter():
        assert not torch.allclose(logits(reference, IDS), logits(merged, IDS), atol=1e-1)  # the adapter matters
    assert report.merged_gap < 1e-4 and report.adapter_effect > 1.0


def test_the_packaged_16bit_merge_loads_and_matches_the_unmerged_model(tiny_adapter_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from deepsynth.export.safe_import import import_package
    from deepsynth.adapter_format.safetensors_check import read_header

    package = export_package(tiny_adapter_dir, tmp_path / "merged.zip", merge=True)
    with zipfile.ZipFile(package) as archive:
        assert json.loads(archive.read("manifest.json"))["merged"] is True
        assert "merged/model.safetensors" in archive.namelist()
        card = archive.read("README.md").decode()
        assert "## Merged model" in card and "| `dtype` | float16 |" in card and "| `merged_gap` |" in card
    imported = import_package(package, tmp_path / "imported")  # merged weights pass the shape check
    folder = imported.path / "merged"
    assert {info.dtype for info in read_header(folder / "model.safetensors").tensors.values()} == {"F16"}
    report = json.loads((folder / "merge_report.json").read_text())
    merged = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float16).eval()
    reference = unmerged_decoder(tiny_adapter_dir)
    gap = (logits(merged, IDS) - logits(reference, IDS)).abs().max().item()
    cast = unmerged_decoder(tiny_adapter_dir).to(torch.float16)
    cast_gap = (logits(cast, IDS) - logits(reference, IDS)).abs().max().item()
    # 16-bit storage costs some precision; merging must not cost noticeably more than the cast.
    assert gap <= 2 * cast_gap + 1e-3 * logits(reference, IDS).abs().max().item()
    assert report["dtype"] == "float16" and report["merged_gap"] <= report["tolerance"]


def test_qlora_adapters_merge_into_the_dequantized_base(tiny_adapter_dir):
    _, _, report = merge_adapter(tiny_adapter_dir, quantization="nf4")
    assert report.dequantized and report.dtype == "float16"
    assert report.merged_gap <= report.tolerance < report.adapter_effect


def test_a_wrong_merge_is_caught_and_nothing_is_written(tiny_adapter_dir, tmp_path, monkeypatch):
    from peft.tuners.tuners_utils import BaseTuner

    monkeypatch.setattr(BaseTuner, "merge_and_unload", lambda self, *a, **k: self.unload())  # drops the adapter
    with pytest.raises(DeepSynthError, match=r"merge check failed: merged logits are [\d.]+ from"):
        write_merged(tiny_adapter_dir, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
