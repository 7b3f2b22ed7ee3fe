"""The exported model card reads like a Hugging Face model card: a YAML header with the Hub's card
metadata, what the adapter is for, its base and revision, its data, the task's scores with intervals
and document counts, how to load it; and no path of the machine that made it."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from deepsynth.export.package import export_package
from deepsynth.export.safe_import import import_package

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def local_paths_run(mlflow_tracking_uri, tiny_adapter_dir, tmp_path_factory):
    """A transcribe run whose params, tags and adapter card name folders of this machine (the
    temporary folder and the home folder), with CER intervals on 12 test documents."""
    from deepsynth.tracking.store import RunLogger

    root = tmp_path_factory.mktemp("card-paths")
    adapter = root / "adapter"
    shutil.copytree(tiny_adapter_dir, adapter)
    card = json.loads((adapter / "deepsynth_model.json").read_text())
    home_cache = os.path.expanduser(f"~/.cache/huggingface/hub/models--acme--page-reader/snapshots/{COMMIT}")
    card["base_model"] = {**card.get("base_model", {}), "path": home_cache, "decoder": home_cache}
    (adapter / "deepsynth_model.json").write_text(json.dumps(card))
    dataset = root / "datasets" / "scanned-letters"
    logger = RunLogger.start("export-card-tests", run_name="letters-cer", uri=mlflow_tracking_uri,
                             params={"dataset": str(dataset), "output_dir": str(root / "out"),
                                     "tracking_uri": mlflow_tracking_uri, "learning_rate": 0.0002,
                                     "max_steps": 60, "lora.rank": 4, "render.font": str(root / "fonts" / "x.ttf"),
                                     "render.font_size": 24},
                             tags={"deepsynth.task": "transcribe", "deepsynth.primary_metric": "cer",
                                   "deepsynth.dataset": str(dataset), "deepsynth.eval_split": "test"})
    logger.log_metrics({"eval/cer": 12.5, "eval/cer_lo": 9.0, "eval/cer_hi": 16.25, "eval/wer": 30.0,
                        "eval/base_cer": 41.0, "eval/base_cer_lo": 35.5, "eval/base_cer_hi": 47.0,
                        "eval/reader_cer": 20.0, "eval/reader_cer_lo": 15.0, "eval/reader_cer_hi": 25.0,
                        "eval/docs": 12, "train/loss": 1.25}, step=60, flush=True)
    logger.log_artifacts(adapter, "adapter")
    logger.log_dict({"split": "test", "docs": 12, "split_size": 12, "task": "transcribe", "primary_metric": "cer",
                     "output_dir": str(root / "out")}, "eval/rouge.json")
    logger.finish()
    return logger.run_id, root


@pytest.fixture(scope="module")
def card_text(local_paths_run, mlflow_tracking_uri, tmp_path_factory):
    run_id, _ = local_paths_run
    package = export_package(run_id, tmp_path_factory.mktemp("card-pkg") / "letters.zip", uri=mlflow_tracking_uri)
    with zipfile.ZipFile(package) as archive:
        return archive.read("README.md").decode(), package


def header(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def test_no_local_path_appears_in_the_card(card_text, local_paths_run, mlflow_tracking_uri, tmp_path):
    card, _ = card_text
    _, root = local_paths_run
    home = os.path.expanduser("~")
    for local in (str(root), str(tmp_path.parent.parent), home, mlflow_tracking_uri, mlflow_tracking_uri.split(":///")[-1]):
        assert local not in card, local
    assert "scanned-letters" in card  # the dataset is named by its folder's name


def test_the_yaml_header_carries_the_hub_card_metadata(card_text):
    card, _ = card_text
    meta = header(card)
    assert meta["base_model"] == "tiny" and meta["base_model_revision"] == COMMIT
    assert meta["library_name"] == "peft"
    assert meta["pipeline_tag"] == "image-to-text"
    assert meta["license"] == "unknown"
    assert meta["datasets"] == ["scanned-letters"]
    assert "transcribe" in meta["tags"] and meta["metrics"] == ["cer"]


def test_the_card_says_what_it_is_for_and_the_task_scores_with_intervals_and_documents(card_text):
    card, _ = card_text
    assert "reads a page and writes out its text (transcription) (task `transcribe`)" in card
    assert "CER (lower is better), the transcribe task's primary metric, on 12 test documents" in card
    assert "| tuned | 12.5 | [9.0, 16.2] | 12 |" in card or "| tuned | 12.5 | [9.0, 16.3] | 12 |" in card
    assert "| base (untouched) | 41.0 | [35.5, 47.0] | 12 |" in card
    assert "| reader alone | 20.0 | [15.0, 25.0] | 12 |" in card
    assert "With 12 documents the intervals are wide" in card
    assert "## How to use" in card and "python inference.py --image page.png" in card
    assert card.count("| `") < 40  # settings tables, not a dump of every metric


def test_the_package_with_the_new_card_still_imports(card_text, tmp_path):
    _, package = card_text
    imported = import_package(package, tmp_path / "imports" / "letters")  # card_check, code check, shapes
    assert (imported.path / "README.md").read_text().startswith("---\n")


def test_a_default_base_names_smollm2_and_its_gguf_digest():
    from deepsynth.export.model_card import base_reference, public_value

    card = {"model_config": {"name": "default"},
            "base_model": {"name": "default", "gguf_sha256": "ab" * 32, "path": "/root/.cache/deepsynth/x"}}
    assert base_reference(card) == ("HuggingFaceTB/SmolLM2-135M-Instruct", "gguf-sha256:" + "ab" * 32)
    folder = {"model_config": {"name": f"/data/hub/models--org--vlm/snapshots/{COMMIT}"}, "base_model": {}}
    assert base_reference(folder) == ("org/vlm", COMMIT)
    assert base_reference({"model_config": {"name": "/srv/models/my-base"}}) == ("my-base", "unknown")
    assert public_value({"a": ["sqlite:////tmp/x/mlflow.db", "C:\\Users\\ana\\data", "wiki"]}) == {
        "a": ["mlflow.db", "data", "wiki"]}


def test_a_regex_target_pattern_is_shown_whole_on_the_card():
    from deepsynth.export.model_card import _targets_text

    pattern = r"^model\.language_model\..*\.(q_proj|v_proj)$"
    assert _targets_text(pattern) == f"the modules matching `{pattern}`"
    assert _targets_text(["q_proj", "v_proj"]) == "`q_proj`, `v_proj`"
    assert _targets_text(None) == "the modules in adapter_config.json"
