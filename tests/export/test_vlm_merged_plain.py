"""`deepsynth export --merge` on a VLM writes a folder plain transformers loads: in a Python started
with -I and every `deepsynth` import refused, `AutoModelForImageTextToText` + `AutoProcessor` load
it and generate, greedily, the tokens base + adapter (plain PEFT) generate, on three pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
import torch

PLAIN = r'''
import json, sys
sys.modules["deepsynth"] = None  # any DeepSynth import fails
import torch
from PIL import Image
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

merged_dir, base_dir, adapter_dir, *page_files = sys.argv[1:]
torch.set_num_threads(1)
processor = AutoProcessor.from_pretrained(merged_dir)
pages = [Image.open(path).convert("RGB") for path in page_files]
if getattr(processor, "chat_template", None):  # each page alone, then the three as one document
    def text(count):
        content = [{"type": "image"}] * count + [{"type": "text", "text": "Summarize."}]
        return processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                             tokenize=False)
    prompts = [(text(1), [page]) for page in pages] + [(text(len(pages)), pages)]
else:  # the processor places the image tokens itself, one image per prompt
    prompts = [("Summarize.", [page]) for page in pages]

def greedy(model):
    out = []
    for text, images in prompts:
        inputs = processor(text=[text], images=[images], return_tensors="pt")
        with torch.no_grad():
            ids = model.generate(**inputs, max_new_tokens=6, do_sample=False, num_beams=1)
        out.append(ids[0].tolist() if model.config.is_encoder_decoder else ids[0, inputs["input_ids"].shape[1]:].tolist())
    return out

merged = AutoModelForImageTextToText.from_pretrained(merged_dir, dtype=torch.float32).eval()
unmerged = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base_dir, dtype=torch.float32),
                                     adapter_dir).eval()
result = {"merged": greedy(merged), "unmerged": greedy(unmerged), "prompts": len(prompts)}
with unmerged.disable_adapter():
    result["base"] = greedy(unmerged)
result["deepsynth_modules"] = sorted(name for name, module in sys.modules.items()
                                     if name.split(".")[0] == "deepsynth" and module is not None)
print(json.dumps(result))
'''

AUTO_PROCESSOR_FAMILIES = [pytest.param("idefics3"), pytest.param("deepseek_ocr2", marks=pytest.mark.slow),
                           pytest.param("florence2", marks=pytest.mark.slow)]
"""Families whose AutoProcessor loads here; SmolVLM's, Qwen2-VL's and Qwen2.5-VL's include a video
processor that needs torchvision, which cannot be installed on this CPU torch (their base folders
fail alike): for those, the merged folder's processor files are checked to be the base's own."""


@pytest.fixture(scope="module")
def merged_package(tmp_path_factory):
    """family -> (base folder, adapter folder, the imported package's merged/ folder), built once."""
    from deepsynth.export.package import export_package
    from deepsynth.export.safe_import import import_package
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.models.vlm.tiny import build_tiny_vlm

    built = {}

    def package_for(family: str):
        if family not in built:
            root = tmp_path_factory.mktemp(f"vlm-merged-{family}")
            base = build_tiny_vlm(family, root / "base")
            torch.manual_seed(11)
            model = build_document_model(ModelConfig(name=str(base), max_target_tokens=8, train_projector=True),
                                         LoraSettings(rank=4, alpha=8, dropout=0.0))
            with torch.no_grad():  # a trained adapter's size of effect (LoRA B is zero at start)
                for name, parameter in model.named_parameters():
                    if parameter.requires_grad:
                        parameter.add_(0.3 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(5)))
            adapter = model.save_adapter(root / "adapter")
            package = export_package(adapter, root / "vlm.zip", merge=True, merge_dtype="float32")
            with zipfile.ZipFile(package) as archive:
                assert "merged/model.safetensors" in archive.namelist()
            imported = import_package(package, root / "imported", allowed_locations=[str(base)])
            built[family] = (base, adapter, imported.path / "merged")
        return built[family]

    return package_for


@pytest.fixture(scope="module")
def three_pages(tmp_path_factory):
    from PIL import Image, ImageDraw

    folder = tmp_path_factory.mktemp("pages")
    paths = []
    for number, (text, size) in enumerate([("A cat sat on the mat.", (200, 260)), ("Rivers flow to the sea.", (160, 200)),
                                           ("It was warm.", (96, 96))], 1):
        page = Image.new("L", size, 255)
        ImageDraw.Draw(page).text((8, 8), text, fill=0)
        paths.append(folder / f"page{number}.png")
        page.save(paths[-1])
    return paths


@pytest.mark.parametrize("family", AUTO_PROCESSOR_FAMILIES)
def test_plain_transformers_loads_the_merged_folder_and_generates_what_base_plus_adapter_does(
        family, merged_package, three_pages):
    base, adapter, merged = merged_package(family)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEEPSYNTH_HOME")}
    done = subprocess.run([sys.executable, "-I", "-c", PLAIN, str(merged), str(base), str(adapter),
                           *map(str, three_pages)], cwd=merged, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["deepsynth_modules"] == []
    assert result["prompts"] >= 3 and all(result["merged"])
    assert result["merged"] == result["unmerged"]
    assert result["base"] != result["unmerged"]  # the adapter changes what is generated


@pytest.mark.parametrize("family", ("smolvlm", "qwen2_vl", "qwen2_5_vl"))
def test_the_merged_folder_keeps_the_bases_processor_files(family, merged_package):
    from transformers import AutoModelForImageTextToText

    base, _, merged = merged_package(family)
    processor_files = [path.name for path in base.iterdir()
                       if path.suffix in (".json", ".jinja") and path.name not in ("config.json", "generation_config.json")
                       and not path.name.endswith(".index.json")]
    assert processor_files
    for name in processor_files:
        assert (merged / name).read_bytes() == (base / name).read_bytes(), name
    model, info = AutoModelForImageTextToText.from_pretrained(str(merged), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
