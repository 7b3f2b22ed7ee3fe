"""A trained run's evaluation: generate outputs for held-out documents with the tuned model and
the untouched base (the adapter off), score them and the non-learned baselines (chosen on the
train split) with the task's metrics on the same documents, and record it all in the run.

The task comes from the dataset (`task`, default summarize; `custom` names its metric in
`primary_metric`): summarize is scored with ROUGE exactly as before tasks existed (same metrics,
tags and files); other tasks log their metrics under their short names (`eval/cer`, `eval/anls`...,
`deepsynth.evaluation.keys`), the params `eval.task` and `eval.primary_metric`, the tags of
`keys.TASK_TAG`/`PRIMARY_METRIC_TAG`, and put the task, primary metric and reason in the job report.

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
from deepsynth.evaluation import metrics as registry
from deepsynth.evaluation.baselines import fit_baselines
from deepsynth.evaluation.predictions import predictions_csv
from deepsynth.evaluation.scorecard import Scorecard, build_scorecard, shortfall_message
from deepsynth.evaluation.task_baselines import fit_task_baselines
from deepsynth.evaluation.tasks import DEFAULT_TASK, SUMMARIZE, TaskMetrics, task_metrics
from deepsynth.training.config import resolve_eval_split
from deepsynth.training.data import read_split, unreadable_of


TASK_PARAM, PRIMARY_METRIC_PARAM = "eval.task", "eval.primary_metric"
"""MLflow params of a run whose task is not summarize."""
TARGET_COLUMNS = ("target", "summary")
"""Where a split keeps the reference output (the first present)."""
PROMPT_COLUMNS = ("prompt", "instruction")
"""Where a split keeps each example's prompt or question (the first present)."""


def split_sizes(loaded: Any) -> dict[str, int]:
    return {name: len(split) for name, split in loaded.dataset.items()}


def _column(split: Any, names: tuple[str, ...]) -> list[str]:
    for name in names:
        if name in split.column_names:
            return ["" if value is None else str(value) for value in split[name]]
    return [""] * len(split)


def dataset_tasks(loaded: Any, config: Any) -> TaskMetrics:
    """The task of the run's dataset and its metrics; QA's primary metric is chosen on the train
    split's answers. A bad task or metric is the user's error (InputError naming it)."""
    task = getattr(loaded.config, "task", "") or DEFAULT_TASK
    primary = getattr(loaded.config, "primary_metric", "") or getattr(config, "primary_metric", "") or None
    train = loaded.dataset["train"]
    references = _column(train, TARGET_COLUMNS) if len(train) else []
    try:
        return task_metrics(task, references, primary)
    except ValueError as error:
        raise InputError(f"dataset {getattr(config, 'dataset', '')}: {error}") from None


def baseline_evaluations(loaded: Any, ids: list[str], references: list[str], texts: list[str],
                         seed: int) -> tuple[list[Any], dict[str, rouge.Evaluation]]:
    """The baselines, each choosing on the TRAIN split only, then scored on the given documents."""
    train = loaded.dataset["train"]
    if len(train) == 0:
        return [], {}
    fitted = fit_baselines(train["text"], train["summary"], seed=seed)
    return fitted, {b.name: rouge.score(ids, references, b.predict(texts)) for b in fitted}


def task_baseline_evaluations(loaded: Any, tasks: TaskMetrics, ids: list[str], references: list[str],
                              texts: list[str], prompts: list[str], reader_texts: list[str] | None,
                              seed: int) -> tuple[list[Any], dict[str, rouge.Evaluation]]:
    """A task's baselines (`task_baselines`), fitted on the TRAIN split only, scored on the given
    documents with the task's metrics; `reader_texts`: the page reader's text of each document."""
    train = loaded.dataset["train"]
    if len(train) == 0 and not reader_texts:
        return [], {}
    fitted = fit_task_baselines(tasks, list(train["text"]) if len(train) else [],
                                _column(train, TARGET_COLUMNS), _column(train, PROMPT_COLUMNS), seed=seed,
                                with_reader=reader_texts is not None)
    return fitted, {b.name: registry.score(ids, references, b.predict(texts, prompts, reader_texts or ()),
                                           tasks.names) for b in fitted}


def record_scorecard(recorder: Any, card: Scorecard, step: int, samples: int = 3) -> None:
    """Log a scorecard to the run (metrics, tags, predictions.csv, rouge.json; for a task other
    than summarize, its params and job-report fields too) and print it."""
    recorder.metrics(card.metrics(), step, flush=True)
    recorder.tags(card.tags())
    if card.is_summarize_default:
        recorder.text_artifact(predictions_csv(card.evaluations), keys.PREDICTIONS_FILE)
    else:
        names = (card.primary, *[n for n in card.tasks.names if n != card.primary])
        recorder.text_artifact(predictions_csv(card.evaluations, names), keys.PREDICTIONS_FILE)
        logger = getattr(recorder, "logger", None)
        if logger is not None:
            logger.log_params({TASK_PARAM: card.tasks.task, PRIMARY_METRIC_PARAM: card.primary})
        if hasattr(recorder, "report"):
            recorder.report(task=card.tasks.task, primary_metric=card.primary, primary_reason=card.tasks.reason)
        print(card.tasks.describe(), flush=True)
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
    tasks = dataset_tasks(loaded, config)  # a bad task or metric stops the run before pages are read
    split = split.select(range(min(config.eval_docs, len(split))))
    data = read_split(model, split, config.blank_pages, loaded.config.render,
                      f"reading {split_name} pages", progress)
    unreadable = unreadable_of(data)
    recorder.metrics(unreadable.metrics("eval"), step)
    if unreadable.documents:  # scored like the others (a held-out set keeps its documents), and said
        note = f"{unreadable.sentence(split_name)}; scored with the others"
        print(f"evaluation: {note}", flush=True)
        recorder.tags({"deepsynth.eval_unreadable": note[:4000]})
        if hasattr(recorder, "report"):
            recorder.report(eval_unreadable_documents=unreadable.documents, eval_unreadable_pages=unreadable.pages)

    def scored(label: str) -> rouge.Evaluation:
        def generate(indices: list[int]) -> list[str]:
            batch = model.collate([data.readings[i] for i in indices], [data.instructions[i] for i in indices])
            return model.generate(batch, max_new_tokens=config.eval_max_new_tokens)

        predictions = rouge.generate_all(generate, list(range(len(data.ids))), config.eval_batch_size)
        print(f"evaluated {label} on {len(predictions)} {split_name} documents", flush=True)
        if tasks.task == SUMMARIZE:
            return rouge.score(data.ids, data.summaries, predictions)
        return registry.score(data.ids, data.summaries, predictions, tasks.names)

    evaluations = {keys.TUNED: scored("tuned model")}
    if config.eval_base:
        with model.disable_adapter():
            evaluations[keys.BASE] = scored("base model")
    if tasks.task == SUMMARIZE:
        fitted, by_baseline = baseline_evaluations(loaded, data.ids, data.summaries, list(split["text"]),
                                                   config.seed)
    else:
        fitted, by_baseline = task_baseline_evaluations(
            loaded, tasks, data.ids, data.summaries, list(split["text"]), _column(split, PROMPT_COLUMNS),
            None if config.blank_pages else reader_texts(data.readings), config.seed)
    evaluations.update(by_baseline)
    card = build_scorecard(split_name, config.eval_docs, sizes[split_name], evaluations, fitted,
                           tasks=tasks, blank_pages=config.blank_pages)
    record_scorecard(recorder, card, step)
    return card


def reader_texts(readings: list[Any]) -> list[str] | None:
    """The page reader's own text of each document (`PageReading.text`), or None when the model's
    readings carry no text (a VLM reads pixels): the transcribe baseline needs it."""
    texts = [getattr(reading, "text", None) for reading in readings]
    return texts if texts and all(isinstance(t, str) for t in texts) else None
