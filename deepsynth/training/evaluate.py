"""A trained run's evaluation: generate summaries of held-out documents with the tuned model and
the untouched base (the adapter off), score them and the non-learned baselines (chosen on the
train split) with ROUGE on the same documents, and record it all in the run.

Recorded (names in `deepsynth.evaluation.keys`): metrics `eval/rouge1|rouge2|rougeL` (tuned),
`eval/base_*`, `eval/<baseline>_*`, each with `_lo`/`_hi` (95% bootstrap interval), `eval/docs`
(documents scored) and `eval/docs_requested`; tags `deepsynth.eval_split`,
`deepsynth.eval_documents` (digest of the ids) and, when the split held fewer documents than asked
for, `deepsynth.eval_shortfall`; artifacts `eval/predictions.csv` (per document: id, reference,
each model's summary and ROUGE-L) and `eval/rouge.json`. The log gets the table and a few samples.
"""

from __future__ import annotations

from typing import Any

from deepsynth.errors import InputError
from deepsynth.evaluation import keys, rouge
from deepsynth.evaluation.baselines import fit_baselines
from deepsynth.evaluation.predictions import predictions_csv
from deepsynth.evaluation.scorecard import Scorecard, build_scorecard, shortfall_message
from deepsynth.training.config import resolve_eval_split
from deepsynth.training.data import read_split


def split_sizes(loaded: Any) -> dict[str, int]:
    return {name: len(split) for name, split in loaded.dataset.items()}


def baseline_evaluations(loaded: Any, ids: list[str], references: list[str], texts: list[str],
                         seed: int) -> tuple[list[Any], dict[str, rouge.Evaluation]]:
    """The baselines, each choosing on the TRAIN split only, then scored on the given documents."""
    train = loaded.dataset["train"]
    if len(train) == 0:
        return [], {}
    fitted = fit_baselines(train["text"], train["summary"], seed=seed)
    return fitted, {b.name: rouge.score(ids, references, b.predict(texts)) for b in fitted}


def record_scorecard(recorder: Any, card: Scorecard, step: int, samples: int = 3) -> None:
    """Log a scorecard to the run (metrics, tags, predictions.csv, rouge.json) and print it."""
    recorder.metrics(card.metrics(), step, flush=True)
    recorder.tags(card.tags())
    recorder.text_artifact(predictions_csv(card.evaluations), keys.PREDICTIONS_FILE)
    recorder.json_artifact(card.summary(), keys.ROUGE_FILE)
    print(card.table(), flush=True)
    models = {name: card.evaluations[name] for name in (keys.TUNED, keys.BASE) if name in card.evaluations}
    if models and samples:
        print(rouge.sample_predictions(models, count=samples), flush=True)


def evaluate_run(model: Any, loaded: Any, config: Any, recorder: Any, step: int, progress: bool) -> Scorecard:
    """Score `model` (and the base, and the baselines) on `config.eval_docs` documents of the
    evaluation split; record and return the scorecard."""
    sizes = split_sizes(loaded)
    split_name = resolve_eval_split(config.eval_split, sizes)
    split = loaded.dataset[split_name]
    if len(split) == 0:
        raise InputError(f"the {split_name} split of {config.dataset} is empty: nothing to evaluate on "
                         "(choose another eval split, or rebuild the dataset with a share for it)")
    shortfall = shortfall_message(config.eval_docs, len(split), split_name)
    if shortfall:
        print(f"evaluation: {shortfall}", flush=True)
        recorder.tags({keys.SHORTFALL_TAG: shortfall})
    split = split.select(range(min(config.eval_docs, len(split))))
    data = read_split(model, split, config.blank_pages, loaded.config.render,
                      f"reading {split_name} pages", progress)

    def scored(label: str) -> rouge.Evaluation:
        def generate(indices: list[int]) -> list[str]:
            batch = model.collate([data.readings[i] for i in indices], [data.instructions[i] for i in indices])
            return model.generate(batch, max_new_tokens=config.eval_max_new_tokens)

        predictions = rouge.generate_all(generate, list(range(len(data.ids))), config.eval_batch_size)
        print(f"evaluated {label} on {len(predictions)} {split_name} documents", flush=True)
        return rouge.score(data.ids, data.summaries, predictions)

    evaluations = {keys.TUNED: scored("tuned model")}
    if config.eval_base:
        with model.disable_adapter():
            evaluations[keys.BASE] = scored("base model")
    fitted, by_baseline = baseline_evaluations(loaded, data.ids, data.summaries, list(split["text"]), config.seed)
    evaluations.update(by_baseline)
    card = build_scorecard(split_name, config.eval_docs, sizes[split_name], evaluations, fitted,
                           blank_pages=config.blank_pages)
    record_scorecard(recorder, card, step)
    return card
