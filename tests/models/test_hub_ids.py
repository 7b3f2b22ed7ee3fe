"""`--model ORG/NAME[@REVISION]`: a tiny VLM in a real Hugging Face cache layout, offline, is estimated,
trained, exported, imported and asked by its hub id, through the code a local folder takes; the commit
is pinned in the run's params and the adapter's card; a revision the cache lacks is refused clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from deepsynth.errors import DeepSynthError, InputError

COMMIT = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
HUB_NAME = "acme/tiny-reader"


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> Path:
    from deepsynth.models.vlm.tiny import build_tiny_vlm

    return build_tiny_vlm("idefics3", tmp_path_factory.mktemp("hub-source") / "tiny")


@pytest.fixture
def offline_cache(tmp_path, monkeypatch, tiny_vlm):
    """The tiny VLM as `acme/tiny-reader` in an HF hub cache (`refs/main` -> COMMIT), the hub switched off."""
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--acme--tiny-reader"
    shutil.copytree(tiny_vlm, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path / "home"))
    return repo


def test_a_hub_id_is_read_as_the_kind_its_config_says(offline_cache):
    from deepsynth.models.kinds import IMAGE_TEXT_TO_TEXT, detect_kind

    detected = detect_kind(HUB_NAME)
    assert detected.kind is IMAGE_TEXT_TO_TEXT  # not a causal LM with the OCR reader bolted on
    assert detected.model_type == "idefics3" and detected.path == offline_cache / "snapshots" / COMMIT
    assert detect_kind(f"{HUB_NAME}@{COMMIT}").path == detected.path


def test_a_revision_the_cache_lacks_is_refused_with_what_is_missing(offline_cache):
    from deepsynth.models.kinds import detect_kind

    with pytest.raises(InputError, match=r"holds no snapshot of 'acme/tiny-reader' at revision 'v2'.*"
                                         r"hf download acme/tiny-reader --revision v2"):
        detect_kind(f"{HUB_NAME}@v2")
    with pytest.raises(InputError, match=r"holds no snapshot of 'acme/absent'"):
        detect_kind("acme/absent")


def test_a_config_alone_in_the_cache_is_not_a_model(offline_cache):
    from deepsynth.models.kinds import detect_kind

    for weights in (offline_cache / "snapshots" / COMMIT).glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(DeepSynthError, match="only part of a snapshot"):
        detect_kind(HUB_NAME)


def test_the_estimate_reads_a_hub_id(offline_cache, tiny_vlm):
    from deepsynth.estimate.builtin import load_architecture

    by_id, by_folder = load_architecture(HUB_NAME), load_architecture(str(tiny_vlm))
    assert by_id.vlm is not None and by_id.decoder == by_folder.decoder and by_id.vlm == by_folder.vlm


@pytest.mark.slow
def test_train_export_import_and_infer_by_hub_id(offline_cache, tiny_dataset, mlflow_tracking_uri, tmp_path):
    from PIL import Image

    from deepsynth.export.package import export_package
    from deepsynth.export.safe_import import import_package
    from deepsynth.hub_models import PINNED_PARAM
    from deepsynth.inference import Summarizer
    from deepsynth.tracking import store
    from deepsynth.training.cli import parse_train_args
    from deepsynth.training.worker import train

    config, _ = parse_train_args(["--dataset", tiny_dataset, "--model", HUB_NAME, "--preset", "minimal",
                                  "--max-steps", "2", "--eval-docs", "2", "--batch-size", "2",
                                  "--checkpoint-every", "2", "--tracking-uri", mlflow_tracking_uri,
                                  "--experiment", "tests-hub-id", "--output-dir", str(tmp_path / "runs"),
                                  "--threads", "1", "--no-system-metrics"])
    run_id = train(config, progress=False)
    run = store.client_for(mlflow_tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    pinned = f"{HUB_NAME}@{COMMIT}"
    assert run.data.params["model.name"] == HUB_NAME and run.data.params[PINNED_PARAM] == pinned
    from deepsynth.tracking import registry

    version = registry.register_adapter(run_id, "hub-reader", uri=mlflow_tracking_uri)
    tags = store.client_for(mlflow_tracking_uri).get_model_version("hub-reader", version.version).tags
    assert tags[registry.BASE_MODEL_TAG] == pinned  # the registry version names the commit too
    adapter = Path(urlparse(run.info.artifact_uri).path) / "adapter"
    card = json.loads((adapter / "deepsynth_model.json").read_text())
    assert card["model_config"]["name"] == pinned and card["base_model"]["revision"] == COMMIT
    package = export_package(adapter, tmp_path / "hub.zip")
    # a package naming a base is refused unless the user allows that exact base (issue 21's rule), here the
    # pinned hub id; it then loads from the cache, never the hub
    imported = import_package(package, tmp_path / "imported", allowed_locations=[pinned])
    page = tmp_path / "page.png"
    Image.new("RGB", (320, 240), "white").save(page)
    answer = Summarizer.for_adapter(imported.path, label="adapter").summarize(image=page, max_new_tokens=4)
    assert isinstance(answer, str)
