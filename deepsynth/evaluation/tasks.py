"""What each task is scored with, and by which metric its runs are ranked (the primary metric).

    summarize   rougeL (rouge1, rouge2 beside it): today's scores, unchanged
    transcribe  cer (wer beside it): lower is better
    qa          anls (exact_match beside it) when answers are short; rougeL (rouge1, rouge2 beside
                it) when the dataset's median reference answer is over `LONG_ANSWER_WORDS` words:
                ANLS gives a long answer worded differently nothing, and exact match never matches it
    extract     field_f1 (json_valid beside it)
    translate   chrf (bleu beside it)
    custom      the primary metric the user names (any in `deepsynth.evaluation.metrics`), with
                the other metrics of its family beside it

`task_metrics` returns the choice and its reason, so that reports and pages can say it. Each
primary metric is logged only by its own tasks (ANLS never beside ROUGE-L), so the metrics a run
logged say its primary metric where its tags are not at hand (`PRIMARY_BY_PRESENCE`); a custom
run is known by its tag only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

from deepsynth.evaluation import metrics as registry
from deepsynth.evaluation.metric import direction_words

SUMMARIZE, TRANSCRIBE, QA = "summarize", "transcribe", "qa"
EXTRACT, TRANSLATE, CUSTOM = "extract", "translate", "custom"
TASKS = (SUMMARIZE, TRANSCRIBE, QA, EXTRACT, TRANSLATE, CUSTOM)
"""Every task, in the order the CLI and pages list them."""
DEFAULT_TASK = SUMMARIZE

LONG_ANSWER_WORDS = 5
"""A QA dataset whose median reference answer has more words than this is scored by ROUGE-L."""

_FIXED = {
    SUMMARIZE: (("rouge1", "rouge2", "rougeL"), "rougeL", "summaries are scored by ROUGE-L"),
    TRANSCRIBE: (("cer", "wer"), "cer", "transcriptions are scored by character error rate"),
    EXTRACT: (("json_valid", "field_f1"), "field_f1", "extractions are scored by field-level F1"),
    TRANSLATE: (("chrf", "bleu"), "chrf", "translations are scored by chrF (more stable than BLEU on "
                                            "single documents)"),
}


@dataclass(frozen=True)
class TaskMetrics:
    """The metrics a task's evaluation logs, its primary metric and why."""

    task: str
    """One of `TASKS`."""
    names: tuple[str, ...]
    """Metric short names logged (summarize: rouge1, rouge2, rougeL as today; else the primary first)."""
    primary: str
    """The metric runs, baselines and adapter versions are ranked by."""
    reason: str
    """One sentence: why this primary metric."""

    @property
    def direction(self) -> str:
        return registry.get_metric(self.primary).direction

    def describe(self) -> str:
        """`task qa: primary metric ROUGE-L (higher is better): <reason>`."""
        return (f"task {self.task}: primary metric {registry.label(self.primary)} "
                f"({direction_words(self.direction)}): {self.reason}")


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    return task


def median_words(references: Sequence[str]) -> float:
    return float(statistics.median(len(r.split()) for r in references)) if references else 0.0


def task_metrics(task: str, references: Sequence[str] = (), primary: str | None = None) -> TaskMetrics:
    """The metrics of `task`. `references` decides QA's primary metric (the dataset's answers;
    give the train split's, so the choice does not depend on the documents evaluated); `primary`
    is required for `custom`; for another task it may only repeat the task's own."""
    check_task(task)
    if task == CUSTOM:
        if not primary:
            raise ValueError(f"the custom task needs a primary metric: one of {', '.join(registry.METRIC_NAMES)}")
        metric = registry.get_metric(primary)
        siblings = tuple(m.name for m in registry.METRICS.values() if m.family is metric.family and m.name != primary)
        return TaskMetrics(task, (primary, *siblings), primary, f"chosen by the user ({metric.description})")
    if task == QA:
        chosen = _qa_choice(references)
    else:
        chosen = _FIXED[task]
    names, own, reason = chosen
    if primary and primary != own:
        raise ValueError(f"task {task} is ranked by {own}; choose the custom task to rank by {primary}")
    return TaskMetrics(task, names, own, reason)


def _qa_choice(references: Sequence[str]) -> tuple[tuple[str, ...], str, str]:
    words = median_words(references)
    if words > LONG_ANSWER_WORDS:
        return (("rougeL", "rouge1", "rouge2"), "rougeL",
                f"the median reference answer has {words:g} words (over {LONG_ANSWER_WORDS}): long answers are "
                "scored by ROUGE-L, since ANLS and exact match give a correct answer in other words nothing")
    return (("anls", "exact_match"), "anls",
            f"the median reference answer has {words:g} words (at most {LONG_ANSWER_WORDS}): short answers are "
            "scored by ANLS (DocVQA's metric)")


PRIMARY_BY_PRESENCE = ("cer", "anls", "field_f1", "chrf", "rougeL")
"""The fixed tasks' primary metrics, in the order to look for them among a run's metrics."""
