"""A run's evaluation: which split (auto = test when there is one), the document shortfall, and
baselines that choose on the train split only."""

import csv

import pytest

from deepsynth.training.config import resolve_eval_split


class Recorded:
    """Stands in for the worker's Recorder: keeps what the evaluation records."""

    def __init__(self):
        self.metric_values, self.tag_values, self.files = {}, {}, {}

    def metrics(self, metrics, step, flush=False):
        self.metric_values.update(metrics)

    def tags(self, tags):
        self.tag_values.update(tags)

    def text_artifact(self, text, name):
        self.files[name] = text

    def json_artifact(self, data, name):
        self.files[name] = data


WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


@pytest.fixture(scope="module")
def lead_dataset(tmp_path_factory):
    """32 documents: on train the summary is the document's first 3 words, on test its first 12
    (so a baseline that peeked at test would choose k = 12)."""
    from deepsynth.data import DatasetConfig, assign_splits, build_dataset
    from deepsynth.render import RenderConfig

    folder = tmp_path_factory.mktemp("lead")
    n = 32
    config = DatasetConfig(source=str(folder / "docs.csv"), validation_fraction=0.0, test_fraction=0.25, workers=1,
                           render=RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=1))
    splits = assign_splits(n, config)
    with open(folder / "docs.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "summary"])
        for i, split in enumerate(splits):
            text = " ".join(WORDS[i % 16:] + WORDS[:i % 16]) + f" and document {i}"
            writer.writerow([f"doc{i}", text, " ".join(text.split()[:12 if split == "test" else 3])])
    return build_dataset(config, folder / "built")


def test_auto_evaluates_on_test_when_the_dataset_has_one():
    assert resolve_eval_split("auto", {"train": 8, "validation": 1, "test": 1}) == "test"
    assert resolve_eval_split("auto", {"train": 8, "validation": 2, "test": 0}) == "validation"
    assert resolve_eval_split("validation", {"train": 8, "validation": 2, "test": 5}) == "validation"


def test_baselines_choose_on_the_train_split_only(lead_dataset):
    from deepsynth.data import load_dataset_dir
    from deepsynth.training.evaluate import baseline_evaluations

    loaded = load_dataset_dir(lead_dataset)
    test = loaded.dataset["test"]
    fitted, scored = baseline_evaluations(loaded, list(test["id"]), list(test["summary"]), list(test["text"]), seed=0)
    lead_k = next(b for b in fitted if b.name == "lead_k")
    assert lead_k.choice == {"k": 3}  # what train says; test alone would say 12
    assert scored["lead_k"].predictions[0] == " ".join(test["text"][0].split()[:3])
    assert scored["lead_k"].ids == tuple(test["id"])
    assert 0 < scored["lead_k"].scores["rougeL"] < 60  # 3 of 12 words: the choice made on train costs here


def test_evaluation_reads_the_test_split_and_says_when_it_is_short(lead_dataset):
    import torch

    from deepsynth.data import load_dataset_dir
    from deepsynth.lora import preset
    from deepsynth.models import build_document_model
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig
    from deepsynth.training.evaluate import evaluate_run

    torch.set_num_threads(1)
    config = TrainConfig(dataset=str(lead_dataset), model=ModelConfig(name="tiny", max_source_tokens=32,
                                                                      max_target_tokens=8),
                         lora=preset("minimal"), preset="minimal", eval_docs=20, eval_max_new_tokens=4,
                         eval_batch_size=8, threads=1)
    model = build_document_model(config.model, config.lora, "cpu").eval()
    recorded = Recorded()
    card = evaluate_run(model, load_dataset_dir(lead_dataset), config, recorded, step=0, progress=False)
    assert card.split == "test" and card.documents == 8  # auto chose test; it holds 8 of the 20 asked for
    assert recorded.tag_values["deepsynth.eval_split"] == "test"
    assert recorded.tag_values["deepsynth.eval_shortfall"] == \
        "asked for 20 test documents, the test split holds 8: scored on 8"
    assert recorded.metric_values["eval/docs"] == 8 and recorded.metric_values["eval/docs_requested"] == 20
    rows = list(csv.DictReader(recorded.files["eval/predictions.csv"].splitlines()))
    assert len(rows) == 8 and all(r["id"].startswith("doc") for r in rows)
    assert {"tuned_rougeL", "base_rougeL", "lead_k_rougeL", "first_clause_rougeL", "constant_rougeL"} <= set(rows[0])
    assert recorded.files["eval/rouge.json"]["baselines"]["lead_k"]["choice"] == {"k": 3}
