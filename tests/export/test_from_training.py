"""The whole path on a real (tiny) training run: train -> export --run -> import -> infer, and
register -> infer by alias; every route gives the same summary."""

from __future__ import annotations

import zipfile

import pytest


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, mlflow_tracking_uri) -> str:
    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.training import train
    from deepsynth.training.config import TrainConfig

    root = tmp_path_factory.mktemp("e2e")
    dataset = build_dataset(DatasetConfig(source="wiki", limit=12, validation_fraction=0.25, test_fraction=0.0,
                                          max_text_chars=400, workers=1), root / "data")
    config = TrainConfig(
        dataset=str(dataset), model=ModelConfig(name="tiny", max_source_tokens=64, max_target_tokens=16),
        lora=preset("minimal"), preset="minimal", max_steps=3, batch_size=4, learning_rate=1e-3, warmup_steps=0,
        checkpoint_every=3, eval_docs=3, eval_max_new_tokens=6, eval_batch_size=3, experiment="export-e2e",
        tracking_uri=mlflow_tracking_uri, output_dir=str(root / "runs"), threads=1, system_metrics=False)
    return train(config)


def test_a_trained_run_exports_imports_registers_and_infers_the_same(trained_run, mlflow_tracking_uri, tmp_path,
                                                                    capsys, monkeypatch):
    from deepsynth.cli import main

    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))
    uri = ["--tracking-uri", mlflow_tracking_uri]
    package = tmp_path / "run.zip"
    assert main(["export", "--run", trained_run, "--out", str(package), *uri]) == 0
    with zipfile.ZipFile(package) as archive:
        card = archive.read("README.md").decode()
    assert f"MLflow run `{trained_run}`" in card and "| tuned | " in card and "measured peak:" in card
    assert main(["import", str(package), "--dest", str(tmp_path / "imported")]) == 0
    assert main(["register", "--run", trained_run, "--name", "e2e-summarizer", "--alias", "champion", *uri]) == 0
    document = tmp_path / "doc.txt"
    document.write_text("The library extended its opening hours for students during exams.", encoding="utf-8")
    capsys.readouterr()
    summaries = []
    for adapter in (trained_run, str(tmp_path / "imported"), "models:/e2e-summarizer@champion"):
        assert main(["infer", "--adapter", adapter, "--text-file", str(document), "--max-new-tokens", "8", *uri]) == 0
        summaries.append(capsys.readouterr().out)
    assert summaries[0] == summaries[1] == summaries[2]
