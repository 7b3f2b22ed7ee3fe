"""A dataset built from PDFs and images trains the tiny model, each example asked its own prompt."""

from __future__ import annotations

import pytest
from page_documents import encoded, page_image, text_pdf

from deepsynth.data import DatasetConfig, build_dataset, load_dataset_dir
from deepsynth.training.data import example_prompts


@pytest.fixture
def qa_pages(tmp_path):
    """6 PDFs (2 questions each) + 2 PNG scans (1 question each), a CSV manifest, task qa."""
    folder = tmp_path / "docs"
    folder.mkdir()
    lines = ["id,file,pages,prompt,target"]
    for doc in range(6):
        (folder / f"paper{doc}.pdf").write_bytes(text_pdf([f"Paper {doc}\nIt studies topic {doc}.", "Results."]))
        lines += [f"p{doc}-topic,paper{doc}.pdf,1,What does paper {doc} study?,topic {doc}",
                  f"p{doc}-result,paper{doc}.pdf,1-2,What did paper {doc} find?,results {doc}"]
    for scan in range(2):
        (folder / f"scan{scan}.png").write_bytes(encoded(page_image(f"scan {scan}", size=(300, 400)), "PNG"))
        lines.append(f"s{scan},scan{scan}.png,,What is scanned?,scan {scan}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = DatasetConfig(source=str(folder), task="qa", dpi=36, validation_fraction=0.25, test_fraction=0.0,
                           workers=1)
    return build_dataset(config, tmp_path / "dataset")


def test_split_prompts_are_the_rows_prompts_else_the_rendered_instruction(qa_pages, tmp_path):
    loaded = load_dataset_dir(qa_pages)
    train = loaded.dataset["train"]
    assert example_prompts(train) == list(train["prompt"]) and all(p.endswith("?") for p in train["prompt"])
    # a rendered-text dataset without prompts keeps its instruction (today's behaviour)
    wiki = build_dataset(DatasetConfig(source="wiki", limit=3, instruction="Summarize briefly.", workers=1,
                                       max_text_chars=300), tmp_path / "wiki")
    split = load_dataset_dir(wiki).dataset["train"]
    assert example_prompts(split) == ["Summarize briefly."] * len(split)
    assert example_prompts(split.remove_columns(["prompt"])) == ["Summarize briefly."] * len(split)


@pytest.mark.slow
def test_tiny_model_trains_on_pdf_and_image_pages_with_per_example_questions(
        qa_pages, mlflow_tracking_uri, tmp_path, monkeypatch):
    import deepsynth.training.worker as worker
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.tracking import store
    from deepsynth.training.config import TrainConfig
    from deepsynth.training.worker import train

    seen = []
    original = worker.read_split

    def spy(*args, **kwargs):
        data = original(*args, **kwargs)
        seen.append(data)
        return data

    monkeypatch.setattr(worker, "read_split", spy)
    config = TrainConfig(
        dataset=str(qa_pages), model=ModelConfig(name="tiny", max_source_tokens=64, max_target_tokens=16),
        lora=preset("minimal"), preset="minimal", max_steps=3, batch_size=4, learning_rate=1e-3,
        warmup_steps=0, checkpoint_every=3, eval_docs=2, eval_max_new_tokens=4, eval_batch_size=2,
        experiment="tests-page-sources", tracking_uri=mlflow_tracking_uri, output_dir=str(tmp_path / "runs"),
        threads=1, system_metrics=False)
    run_id = train(config, progress=False)
    run = store.client_for(mlflow_tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    primary = run.data.tags["deepsynth.primary_metric"]  # qa: ANLS for short answers, ROUGE-L for long ones
    assert run.data.tags["deepsynth.task"] == "qa" and f"eval/{primary}" in run.data.metrics
    train_data = seen[0]  # what the worker hands to model.collate as each row's instruction
    expected = {f"p{doc}-topic": f"What does paper {doc} study?" for doc in range(6)}
    expected.update({f"p{doc}-result": f"What did paper {doc} find?" for doc in range(6)})
    expected.update({f"s{scan}": "What is scanned?" for scan in range(2)})
    assert train_data.ids == load_dataset_dir(qa_pages).dataset["train"]["id"]
    assert train_data.instructions == [expected[row_id] for row_id in train_data.ids]


@pytest.mark.slow
def test_tiny_vlm_trains_on_pdf_pages_to_transcribe_them(mlflow_tracking_uri, tmp_path, monkeypatch):
    import deepsynth.training.worker as worker
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.models.vlm.tiny import build_tiny_vlm
    from deepsynth.tracking import store
    from deepsynth.training.config import TrainConfig
    from deepsynth.training.worker import train

    folder = tmp_path / "pdfs"
    folder.mkdir()
    for doc in range(4):
        (folder / f"d{doc}.pdf").write_bytes(text_pdf([f"Page one of {doc}", f"Page two of {doc}"]))
    dataset = build_dataset(DatasetConfig(source=str(folder), task="transcribe", dpi=36, validation_fraction=0.25,
                                          test_fraction=0.0, workers=1), tmp_path / "dataset")
    seen = []
    original = worker.read_split

    def spy(*args, **kwargs):
        seen.append(original(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(worker, "read_split", spy)
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path / "home"))
    vlm = build_tiny_vlm("deepseek_ocr2", tmp_path / "vlm")
    config = TrainConfig(
        dataset=str(dataset), model=ModelConfig(name=str(vlm), text_encoder="none", max_target_tokens=16),
        lora=preset("minimal"), preset="minimal", max_steps=2, batch_size=2, learning_rate=1e-3, warmup_steps=0,
        checkpoint_every=2, eval_docs=2, eval_max_new_tokens=4, eval_batch_size=2, experiment="tests-page-vlm",
        tracking_uri=mlflow_tracking_uri, output_dir=str(tmp_path / "runs"), threads=1, system_metrics=False)
    run = store.client_for(mlflow_tracking_uri).get_run(train(config, progress=False))
    assert run.info.status == "FINISHED" and run.data.metrics["eval/docs"] == 2
    rows = load_dataset_dir(dataset).dataset["train"]
    assert seen[0].summaries == list(rows["summary"]) == list(rows["text"])  # targets: the text layer
    assert set(seen[0].instructions) == {"Transcribe the text of the page."}
