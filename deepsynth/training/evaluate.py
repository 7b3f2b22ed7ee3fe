"""A trained run's evaluation: generate summaries of held-out documents with the tuned model and
the untouched base (the adapter off), score them with ROUGE, and record it all in the run.

Recorded: metrics `eval/rouge1|rouge2|rougeL` (tuned), `eval/base_*`, `eval/docs`; artifacts
`eval/predictions.csv` (per document: id, reference, each model's summary and ROUGE-L) and
`eval/rouge.json`. The log gets a ROUGE table and a few samples.
"""

from __future__ import annotations

from typing import Any

from deepsynth.errors import InputError
from deepsynth.evaluation import rouge
from deepsynth.training.data import read_split


def evaluate_run(model: Any, loaded: Any, config: Any, recorder: Any, step: int, progress: bool) -> dict[str, Any]:
    """Score `model` on `config.eval_docs` documents of `config.eval_split`; returns
    {model name: mean ROUGE scores}."""
    split = loaded.dataset[config.eval_split]
    if len(split) == 0:
        raise InputError(f"the {config.eval_split} split of {config.dataset} is empty: nothing to evaluate on")
    split = split.select(range(min(config.eval_docs, len(split))))
    data = read_split(model, split, config.blank_pages, loaded.config.render,
                      f"reading {config.eval_split} pages", progress)

    def scored(label: str) -> rouge.Evaluation:
        def generate(indices: list[int]) -> list[str]:
            batch = model.collate([data.readings[i] for i in indices], [data.instructions[i] for i in indices])
            return model.generate(batch, max_new_tokens=config.eval_max_new_tokens)

        predictions = rouge.generate_all(generate, list(range(len(data.ids))), config.eval_batch_size)
        print(f"evaluated {label} on {len(predictions)} {config.eval_split} documents", flush=True)
        return rouge.score(data.ids, data.summaries, predictions)

    evaluations = {"tuned": scored("tuned model")}
    if config.eval_base:
        with model.disable_adapter():
            evaluations["base"] = scored("base model")
    metrics = {f"eval/{k}": v for k, v in evaluations["tuned"].scores.items()}
    if "base" in evaluations:
        metrics.update({f"eval/base_{k}": v for k, v in evaluations["base"].scores.items()})
    metrics["eval/docs"] = float(len(data.ids))
    recorder.metrics(metrics, step, flush=True)
    recorder.text_artifact(rouge.predictions_csv(evaluations), "eval/predictions.csv")
    summary = {name: e.scores for name, e in evaluations.items()}
    recorder.json_artifact({"split": config.eval_split, "docs": len(data.ids), "rouge": summary,
                            "blank_pages": config.blank_pages}, "eval/rouge.json")
    print(rouge.rouge_table(summary), flush=True)
    print(rouge.sample_predictions(evaluations, count=3), flush=True)
    return summary
