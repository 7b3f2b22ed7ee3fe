"""A run's evaluation under a task other than summarize: the tiny model on rendered pages, scored
with the task's metrics under their short names, the reader's raw reading as the transcribe
baseline, the task and primary metric in the params, tags, job report and rouge.json."""

import csv
import types

import pytest

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


class Recorded:
    """Stands in for the worker's Recorder (and its MLflow logger): keeps what the evaluation records."""

    def __init__(self):
        self.metric_values, self.tag_values, self.files, self.params, self.reported = {}, {}, {}, {}, {}
        self.logger = types.SimpleNamespace(log_params=self.params.update)

    def metrics(self, metrics, step, flush=False):
        self.metric_values.update(metrics)

    def tags(self, tags):
        self.tag_values.update(tags)

    def text_artifact(self, text, name):
        self.files[name] = text

    def json_artifact(self, data, name):
        self.files[name] = data

    def report(self, **fields):
        self.reported.update(fields)


@pytest.fixture(scope="module")
def page_dataset(tmp_path_factory):
    """16 short documents rendered to pages; the target is the text itself (a transcription)."""
    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.render import RenderConfig

    folder = tmp_path_factory.mktemp("pages")
    with open(folder / "docs.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "summary"])
        for i in range(16):
            text = " ".join(WORDS[i:i + 4])
            writer.writerow([f"doc{i}", text, text])
    config = DatasetConfig(source=str(folder / "docs.csv"), validation_fraction=0.0, test_fraction=0.25, workers=1,
                           render=RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=1))
    return build_dataset(config, folder / "built")


def _evaluate(page_dataset, task, recorded, **dataset_fields):
    import torch

    from deepsynth.data import load_dataset_dir
    from deepsynth.lora import preset
    from deepsynth.models import build_document_model
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig
    from deepsynth.training.evaluate import evaluate_run

    torch.set_num_threads(1)
    loaded = load_dataset_dir(page_dataset)
    # the dataset's task (DatasetConfig.task, from the sources work) stands in as an attribute here
    with_task = types.SimpleNamespace(config=types.SimpleNamespace(render=loaded.config.render, task=task,
                                                                   **dataset_fields),
                                      dataset=loaded.dataset)
    config = TrainConfig(dataset=str(page_dataset), model=ModelConfig(name="tiny", max_source_tokens=32,
                                                                      max_target_tokens=8),
                         lora=preset("minimal"), preset="minimal", eval_docs=4, eval_max_new_tokens=4,
                         eval_batch_size=4, threads=1)
    model = build_document_model(config.model, config.lora, "cpu").eval()
    return evaluate_run(model, with_task, config, recorded, step=0, progress=False)


def test_a_transcription_run_logs_cer_and_wer_with_the_reader_as_baseline(page_dataset):
    recorded = Recorded()
    card = _evaluate(page_dataset, "transcribe", recorded)
    assert card.primary == "cer" and card.documents == 4
    for key in ("eval/cer", "eval/cer_lo", "eval/cer_hi", "eval/wer", "eval/cer_corpus", "eval/base_cer",
                "eval/reader_cer", "eval/reader_wer"):
        assert key in recorded.metric_values, key
    assert not any("rouge" in key for key in recorded.metric_values)
    assert recorded.params == {"eval.task": "transcribe", "eval.primary_metric": "cer"}
    assert recorded.reported["primary_metric"] == "cer" and recorded.reported["task"] == "transcribe"
    assert recorded.tag_values["deepsynth.primary_metric"] == "cer"
    rows = list(csv.DictReader(recorded.files["eval/predictions.csv"].splitlines()))
    assert list(rows[0])[:5] == ["id", "reference", "tuned_prediction", "tuned_cer", "tuned_wer"]
    reader_cer = [float(r["reader_cer"]) for r in rows]
    assert recorded.metric_values["eval/reader_cer"] == pytest.approx(sum(reader_cer) / 4, abs=0.01)
    summary = recorded.files["eval/rouge.json"]
    assert summary["task"] == "transcribe" and summary["direction"] == "lower"
    assert summary["baselines"]["reader"]["chosen_on"] == "train"


def test_the_dataset_task_decides_the_metrics_and_a_bad_one_is_refused_by_name(page_dataset):
    from deepsynth.data import load_dataset_dir
    from deepsynth.errors import InputError
    from deepsynth.training.evaluate import dataset_tasks

    loaded = load_dataset_dir(page_dataset)
    assert dataset_tasks(loaded, None).task == "summarize"  # a dataset without a task: as before

    def with_task(**fields):
        return types.SimpleNamespace(config=types.SimpleNamespace(**fields), dataset=loaded.dataset)

    assert dataset_tasks(with_task(task="qa"), None).primary == "anls"  # train answers: 4 words
    assert dataset_tasks(with_task(task="custom", primary_metric="wer"), None).primary == "wer"
    with pytest.raises(InputError, match="custom task needs a primary metric"):
        dataset_tasks(with_task(task="custom"), None)
    with pytest.raises(InputError, match="unknown task 'ocr'"):
        dataset_tasks(with_task(task="ocr"), None)


def test_an_extraction_target_that_is_not_json_is_named(page_dataset):
    from deepsynth.errors import InputError

    with pytest.raises(InputError, match=r"document 'doc\d+': the reference is not valid JSON: '\w+ \w+"):
        _evaluate(page_dataset, "extract", Recorded())
