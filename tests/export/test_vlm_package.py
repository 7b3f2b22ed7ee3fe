"""A vision-language-model adapter: export -> import -> the package's standalone inference.py (no
DeepSynth code) gives DeepSynth's own summary; the shape oracle needs no weights; merging into a
16-bit base matches the unmerged model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
import torch

from deepsynth.models.vlm.tiny import TINY_VLM_FAMILIES

# Runs inference.py with every `deepsynth` import refused: the script must not need DeepSynth.
NO_DEEPSYNTH = ("import runpy, sys; sys.modules['deepsynth'] = None; sys.argv = sys.argv[1:]; "
                "runpy.run_path(sys.argv[0], run_name='__main__')")


SCRIPT_FAMILIES = [pytest.param(family, marks=[] if family == "idefics3" else [pytest.mark.slow])
                   for family in TINY_VLM_FAMILIES]
"""Every family; idefics3 in the quick set, the others (each a ~20 s subprocess run of inference.py) slow."""


@pytest.fixture(scope="module")
def vlm_adapter(tmp_path_factory):
    """family -> (tiny VLM folder, an adapter trained on it: LoRA B non-zero, projector trained), built once."""
    from deepsynth.configuration import to_dict
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.models.vlm.tiny import build_tiny_vlm
    from deepsynth.render import RenderConfig

    built = {}

    def adapter_for(family: str):
        if family not in built:
            root = tmp_path_factory.mktemp(f"vlm-export-{family}")
            base = build_tiny_vlm(family, root / "base")
            torch.manual_seed(11)  # LoRA A's initialization: the same adapter whatever ran before
            model = build_document_model(ModelConfig(name=str(base), max_target_tokens=8, train_projector=True),
                                         LoraSettings(rank=4, alpha=8, dropout=0.0))
            with torch.no_grad():
                for name, parameter in model.named_parameters():
                    if parameter.requires_grad:
                        noise = torch.randn(parameter.shape, generator=torch.Generator().manual_seed(5))
                        parameter.add_(noise * 0.3)
            adapter = model.save_adapter(root / "adapter", extra={"render": to_dict(RenderConfig(font_size=24))})
            built[family] = (base, adapter)
        return built[family]

    return adapter_for


@pytest.mark.parametrize("family", SCRIPT_FAMILIES)
def test_export_import_and_the_standalone_script_reproduce_deepsynth(family, vlm_adapter, tmp_path, page_png):
    from deepsynth.export.package import export_package
    from deepsynth.export.safe_import import import_package
    from deepsynth.inference import BASE, Summarizer

    base, adapter = vlm_adapter(family)
    package = export_package(adapter, tmp_path / "vlm.zip")
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        requirements = archive.read("requirements.txt").decode()
    assert not any(name.startswith("deepsynth_src/") for name in names)
    assert {"inference.py", "adapter_model.safetensors", "deepsynth_model.json"} <= names
    assert "transformers==" in requirements and "peft==" in requirements and "pillow==" in requirements
    # the card names the base folder: the local user allows that location (--allow-location)
    imported = import_package(package, tmp_path / "imported", allowed_locations=[str(base)])  # shapes checked

    ours = Summarizer.for_adapter(imported.path, label="adapter")
    expected = ours.summarize(image=page_png, max_new_tokens=8)
    assert expected != ours.summarize(image=page_png, adapter=BASE, max_new_tokens=8)  # the adapter matters
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEEPSYNTH_HOME")}
    done = subprocess.run([sys.executable, "-c", NO_DEEPSYNTH, "inference.py", "--image", str(page_png),
                           "--threads", "1", "--max-new-tokens", "8"],
                          cwd=imported.path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.rstrip("\n") == expected


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_the_shape_oracle_builds_the_vlm_on_the_meta_device_and_refuses_wrong_shapes(family, vlm_adapter,
                                                                                     monkeypatch):
    from transformers import AutoModelForImageTextToText

    from deepsynth.adapter_format.safetensors_check import check_shapes, read_header
    from deepsynth.errors import InputError, PackageRefused
    from deepsynth.export.base_shapes import oracle_for_card

    _, adapter = vlm_adapter(family)

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", no_weights)
    card = json.loads((adapter / "deepsynth_model.json").read_text())
    oracle = oracle_for_card(card)
    header = read_header(adapter / "adapter_model.safetensors")
    config = json.loads((adapter / "adapter_config.json").read_text())
    expected = oracle("adapter_model.safetensors", header, config)
    assert expected and set(expected) == set(header.tensors)
    check_shapes(header, expected, "adapter")
    wrong = {name: (1, 1) for name in expected}
    with pytest.raises((InputError, PackageRefused)):
        check_shapes(header, wrong, "adapter")


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_merge_into_a_16_bit_base_matches_the_unmerged_model(family, vlm_adapter, tmp_path, page_png):
    from peft import PeftModel
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    from deepsynth.export.merge import write_merged
    from deepsynth.models.vlm.processor import load_processor
    from deepsynth.models.vlm.prompt import VlmPrompt, prepare_pages

    base, adapter = vlm_adapter(family)
    report = write_merged(adapter, tmp_path / "merged", dtype="float16")
    assert report["merged_gap"] <= report["tolerance"] and report["adapter_effect"] > report["cast_gap"]
    merged = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "merged"), dtype=torch.float32).eval()
    unmerged = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(str(base)), str(adapter)).eval()
    processor = load_processor(str(tmp_path / "merged"))  # the processor travels with the merged weights
    with Image.open(page_png) as opened:
        pages = prepare_pages([opened.convert("L")])
    inputs = dict(processor(text=[VlmPrompt(processor).render(1, "Summarize.")], images=[pages], return_tensors="pt"))
    if merged.config.is_encoder_decoder:  # the decoder reads a few tokens too (LoRA sits on both sides)
        inputs["decoder_input_ids"] = inputs["input_ids"][:, -4:]
    with torch.no_grad():
        ours = merged(**inputs).logits
        theirs = unmerged(**inputs).logits
        with unmerged.disable_adapter():
            plain = unmerged(**inputs).logits
        cast = unmerged.to(torch.float16)(**{k: v.half() if v.is_floating_point() else v
                                              for k, v in inputs.items()}).logits.float()
    # On the page too, merging adds no more than 16-bit storage itself (merge.py's rule: DeepSeek-OCR-2's
    # experts may route a token differently after any rounding, merged or not).
    noise = (cast - theirs).abs().max().item()
    assert (ours - theirs).abs().max().item() <= 2 * noise + 1e-3 * theirs.abs().max().item()
    effect = (theirs - plain).abs().max().item()
    assert (ours - theirs).abs().max().item() < 0.5 * effect  # the merged weights carry the adapter
