"""Baselines that need no training for every task other than summarize (whose baselines are
`deepsynth.evaluation.baselines`): what a tuned model must beat.

    transcribe  reader          the embedded page reader's raw reading (its text, unchanged)
    qa          frequent_answer the most frequent training answer to the same prompt (short
                                answers only; the most frequent answer overall for a new prompt)
                lead            the document's first k words, k chosen on train by the primary metric
                best_sentence   the document's sentence sharing the most words with the question
    extract     frequent_values the most frequent training value of every field present in at
                                least half the training targets, as one JSON object
    translate   copy_source     the source text, unchanged

Choices are made on the TRAIN split only (`fit_task_baselines` sees nothing else); held-out
documents only go through `predict`, which takes each document's text, prompt and reader text.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from deepsynth.evaluation import metrics as registry
from deepsynth.evaluation.baselines import FIT_DOCUMENTS, LEAD_K_CHOICES, _SENTENCE_END, _best, lead
from deepsynth.evaluation.fields import parse_json
from deepsynth.evaluation.metric import best_of
from deepsynth.evaluation.tasks import CUSTOM, EXTRACT, QA, SUMMARIZE, TRANSCRIBE, TRANSLATE, TaskMetrics

READER, FREQUENT_ANSWER, LEAD, BEST_SENTENCE, FREQUENT_VALUES, COPY_SOURCE = (
    "reader", "frequent_answer", "lead", "best_sentence", "frequent_values", "copy_source")
TASK_BASELINE_NAMES = (READER, FREQUENT_ANSWER, LEAD, BEST_SENTENCE, FREQUENT_VALUES, COPY_SOURCE)
"""Every baseline of a task other than summarize, in the order tables show them."""
FIELD_PRESENCE = 0.5
"""A field goes into the frequent-values answer when at least this share of training targets has it."""

Answer = Callable[[str, str, str], str]
"""(document text, prompt, reader text) -> the baseline's output."""

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class TaskBaseline:
    """A non-learned answerer and the choice it made on the train split."""

    name: str
    """One of `TASK_BASELINE_NAMES`."""
    choice: dict[str, Any]
    """What was chosen on train ({"k": 3}, {"answers": 12}...; {} when nothing is chosen)."""
    metric: str
    """The primary metric the choice was made by."""
    train_score: float | None
    """Its mean primary metric on the training documents it was fitted on (None: not measurable there)."""
    description: str
    """One line for tables and logs."""
    answer: Answer = field(compare=False, repr=False, default=lambda text, prompt, reading: "")

    def predict(self, texts: Sequence[str], prompts: Sequence[str] = (), readings: Sequence[str] = ()) -> list[str]:
        prompts = list(prompts) or [""] * len(texts)
        readings = list(readings) or [""] * len(texts)
        return [self.answer(t, p, r) for t, p, r in zip(texts, prompts, readings)]

    def summary(self) -> dict[str, Any]:
        """What `eval/rouge.json` says about it."""
        score = None if self.train_score is None else round(self.train_score, 2)
        return {"choice": self.choice, f"train_{self.metric}": score, "chosen_on": "train",
                "description": self.description}


def _mean(metric: str, predictions: Sequence[str], references: Sequence[str]) -> float:
    scores = registry.get_metric(metric).per_document(predictions, references)
    return sum(scores) / len(scores) if scores else 0.0


def sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(text) if s] if text else []


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def best_sentence(text: str, question: str) -> str:
    """The sentence of `text` sharing the most distinct words with `question` (the first of equals)."""
    asked = words(question)
    found = sentences(text)
    if not found:
        return ""
    return max(found, key=lambda s: len(words(s) & asked))  # max keeps the first of equals


def _prompt_key(prompt: str) -> str:
    return " ".join(prompt.lower().split())


def fit_frequent_answer(prompts: Sequence[str], answers: Sequence[str]) -> tuple[dict[str, str], str]:
    """(prompt -> its most frequent answer, the most frequent answer overall); ties: the first seen."""
    by_prompt: dict[str, Counter] = {}
    for prompt, answer in zip(prompts, answers):
        by_prompt.setdefault(_prompt_key(prompt), Counter())[answer.strip()] += 1
    overall = Counter(a.strip() for a in answers)
    return ({p: c.most_common(1)[0][0] for p, c in by_prompt.items()},
            overall.most_common(1)[0][0] if overall else "")


def fit_frequent_values(targets: Sequence[str]) -> dict[str, Any]:
    """The most frequent value of each top-level field present in >= `FIELD_PRESENCE` of the
    training targets (JSON objects; others are skipped), in the order fields were first seen."""
    objects = [value for ok, value in map(parse_json, targets) if ok and isinstance(value, dict)]
    values: dict[str, Counter] = {}
    for obj in objects:
        for key, value in obj.items():
            values.setdefault(key, Counter())[json.dumps(value, sort_keys=True, ensure_ascii=False)] += 1
    kept = {key: counts for key, counts in values.items() if sum(counts.values()) >= FIELD_PRESENCE * len(objects)}
    return {key: json.loads(counts.most_common(1)[0][0]) for key, counts in kept.items()}


def fit_task_baselines(tasks: TaskMetrics, train_texts: Sequence[str], train_targets: Sequence[str],
                       train_prompts: Sequence[str] = (), seed: int = 0, sample: int = FIT_DOCUMENTS,
                       with_reader: bool = False) -> list[TaskBaseline]:
    """The baselines of `tasks.task`, fitted on these training documents (a seeded sample of
    `sample` of them). `with_reader`: the evaluation has the reader's text of each document (the
    transcribe baseline needs it; nothing is fitted). Summarize: use `baselines.fit_baselines`."""
    if tasks.task == SUMMARIZE:
        raise ValueError("summarize baselines are deepsynth.evaluation.baselines.fit_baselines")
    if len(train_texts) != len(train_targets):
        raise ValueError(f"{len(train_texts)} training texts for {len(train_targets)} targets")
    prompts = list(train_prompts) or [""] * len(train_texts)
    rows = [(t, y, p) for t, y, p in zip(train_texts, train_targets, prompts) if y.strip()]
    if len(rows) > sample:
        rows = random.Random(seed).sample(rows, sample)
    texts, targets, prompts = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    metric = tasks.primary
    fitted: list[TaskBaseline] = []
    if tasks.task in (TRANSCRIBE, CUSTOM):  # nothing to fit: the reader's text, where there is one
        return [TaskBaseline(READER, {}, metric, None, "the page reader's raw reading",
                             lambda text, prompt, reading: reading)] if with_reader else []
    if not rows:
        raise ValueError("no training documents with a target to choose baselines on")
    if tasks.task == QA:
        if metric != "rougeL":  # short answers: a frequent answer can be right
            table, overall = fit_frequent_answer(prompts, targets)
            answer = (lambda text, prompt, reading, table=table, overall=overall:
                      table.get(_prompt_key(prompt), overall))
            fitted.append(TaskBaseline(FREQUENT_ANSWER, {"prompts": len(table), "overall": overall}, metric,
                                       _mean(metric, [answer("", p, "") for p in prompts], targets),
                                       f"the most frequent training answer to the same prompt (else {overall!r})",
                                       answer))
        heads = [" ".join(t.split()[:max(LEAD_K_CHOICES)]) for t in texts]
        if metric == "rougeL":  # rouge-score's LCS on pre-tokenized text: 30 candidates in ~1 s
            k, k_score = _best(LEAD_K_CHOICES, lambda k: [lead(h, k) for h in heads], targets)
        else:
            by_k = {str(k): _mean(metric, [lead(h, k) for h in heads], targets) for k in LEAD_K_CHOICES}
            k = int(best_of(by_k, registry.direction(metric)))
            k_score = by_k[str(k)]
        fitted.append(TaskBaseline(LEAD, {"k": k}, metric, k_score, f"the first {k} words",
                                   lambda text, prompt, reading, k=k: lead(text, k)))
        fitted.append(TaskBaseline(
            BEST_SENTENCE, {}, metric, _mean(metric, [best_sentence(t, p) for t, p in zip(texts, prompts)], targets),
            "the document's sentence sharing the most words with the question",
            lambda text, prompt, reading: best_sentence(text, prompt)))
    elif tasks.task == EXTRACT:
        values = fit_frequent_values(targets)
        output = json.dumps(values, ensure_ascii=False)
        scorable = [t for t in targets if parse_json(t)[0]]  # a target that is not JSON teaches nothing here
        fitted.append(TaskBaseline(FREQUENT_VALUES, {"fields": sorted(values)}, metric,
                                   _mean(metric, [output] * len(scorable), scorable),
                                   f"always {output[:60]!r}", lambda text, prompt, reading: output))
    elif tasks.task == TRANSLATE:
        fitted.append(TaskBaseline(COPY_SOURCE, {}, metric, _mean(metric, texts, targets), "the source, unchanged",
                                   lambda text, prompt, reading: text))
    return fitted
