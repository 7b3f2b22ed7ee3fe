"""Evaluated runs logged straight into a tracking store, through the same code the worker uses
(`record_scorecard`): per-document predictions, intervals, baselines, tags. No model, no training."""

from __future__ import annotations

from typing import Sequence


def log_evaluated_run(uri: str, experiment: str, name: str, ids: Sequence[str], references: Sequence[str],
                      outputs: dict[str, Sequence[str]], split: str = "test", requested: int | None = None,
                      available: int | None = None, params: dict | None = None, tags: dict | None = None,
                      dataset: str | None = None, status: str = "FINISHED", task: str | None = None) -> str:
    """A finished run whose evaluation scored `outputs` (model -> one summary per document);
    `task` (qa, transcribe...) scores them with that task's metrics, as the worker does."""
    from deepsynth.evaluation import metrics, rouge
    from deepsynth.evaluation.scorecard import build_scorecard
    from deepsynth.evaluation.tasks import task_metrics
    from deepsynth.tracking.store import RunLogger
    from deepsynth.training.evaluate import record_scorecard
    from deepsynth.training.recorder import Recorder

    tasks = task_metrics(task, references) if task else None
    if tasks is None:
        evaluations = {model: rouge.score(ids, references, list(texts)) for model, texts in outputs.items()}
    else:
        evaluations = {model: metrics.score(ids, references, list(texts), tasks.names)
                       for model, texts in outputs.items()}
    card = build_scorecard(split, requested or len(ids), available or len(ids), evaluations, resamples=1000,
                           tasks=tasks)
    run_tags = dict(tags or {})
    if dataset:
        run_tags["deepsynth.dataset"] = dataset
    logger = RunLogger.start(experiment, name, params=params or {}, tags=run_tags, uri=uri)
    record_scorecard(Recorder(logger, None), card, step=1, samples=0)
    if card.shortfall:
        logger.set_tags({"deepsynth.eval_shortfall": card.shortfall})
    logger.finish(status)
    return logger.run_id
