"""A run's per-document outputs: `eval/predictions.csv`, written and read back.

One row per evaluated document: `id`, `reference`, then for each model scored on the run
(`tuned`, `base`, the baselines) `<model>_prediction` and its per-document scores (points, 2
decimals), the run's primary metric first: `<model>_rougeL` for a summarize run (as before tasks
existed), `<model>_cer`, `<model>_wer` for a transcription run, and so on. The document id is what
joins runs per document (`deepsynth.evaluation.per_document`) and finds the page image in the
run's dataset.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from deepsynth.errors import InputError
from deepsynth.evaluation.rouge import Evaluation

ID, REFERENCE = "id", "reference"
PREDICTION_SUFFIX, SCORE_SUFFIX = "_prediction", "_rougeL"
DEFAULT_METRIC = "rougeL"
"""The score column of summarize runs, and of every run evaluated before tasks existed."""


def predictions_csv(evaluations: Mapping[str, Evaluation], metrics: Sequence[str] = (DEFAULT_METRIC,)) -> str:
    """One row per document: id, reference, then each model's prediction and its scores in
    `metrics` (the primary metric first)."""
    names = list(evaluations)
    first = evaluations[names[0]]
    for name, evaluation in evaluations.items():
        if evaluation.ids != first.ids:
            raise ValueError(f"{name} was scored on other documents than {names[0]}")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([ID, REFERENCE] + [c for n in names for c in (f"{n}{PREDICTION_SUFFIX}",
                                                                   *[f"{n}_{m}" for m in metrics])])
    for index, doc_id in enumerate(first.ids):
        row = [doc_id, first.references[index]]
        for name in names:
            evaluation = evaluations[name]
            row += [evaluation.predictions[index], *[f"{evaluation.per_document[index][m]:.2f}" for m in metrics]]
        writer.writerow(row)
    return out.getvalue()


@dataclass(frozen=True)
class RunPredictions:
    """A run's `eval/predictions.csv`, by model."""

    ids: tuple[str, ...]
    """Document ids, in the order the run scored them."""
    references: tuple[str, ...]
    """Reference targets, same order."""
    outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Model -> what it wrote for each document."""
    primary_scores: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Model -> the primary metric (points) of each document."""
    metric: str = DEFAULT_METRIC
    """The primary metric's short name (`rougeL`, `cer`...): the first score column of each model."""
    other_scores: dict[str, dict[str, tuple[float, ...]]] = field(default_factory=dict)
    """Metric -> model -> per-document points, for the other score columns."""

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.outputs)

    @property
    def direction(self) -> str:
        from deepsynth.evaluation.metrics import direction

        return direction(self.metric)

    def scores(self, model: str, metric: str | None = None) -> dict[str, float]:
        """Document id -> the primary metric (or `metric`) of `model` (what paired comparisons take)."""
        table = self.primary_scores if metric in (None, self.metric) else self.other_scores.get(metric, {})
        if model not in table:
            raise KeyError(f"no {model} {metric or self.metric} scores in this run's predictions "
                           f"(has {', '.join(table) or 'none'})")
        return dict(zip(self.ids, table[model]))


def _score_columns(header: list[str], models: list[str]) -> dict[str, list[tuple[str, int]]]:
    """model -> [(metric, column index)], the columns `<model>_<metric>` after its prediction."""
    found: dict[str, list[tuple[str, int]]] = {}
    for model in models:
        start = header.index(f"{model}{PREDICTION_SUFFIX}") + 1
        columns = []
        for index in range(start, len(header)):
            name = header[index]
            if name.endswith(PREDICTION_SUFFIX) or not name.startswith(f"{model}_"):
                break
            columns.append((name[len(model) + 1:], index))
        found[model] = columns
    return found


def read_predictions_csv(text: str, where: str = "eval/predictions.csv") -> RunPredictions:
    """Parse a predictions table; `InputError` naming `where` and the line for a malformed one."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{where}: empty file") from None
    if header[:2] != [ID, REFERENCE]:
        raise InputError(f"{where}: line 1 must start with columns id,reference; got {header[:2]}")
    models = [c[:-len(PREDICTION_SUFFIX)] for c in header[2:] if c.endswith(PREDICTION_SUFFIX)]
    columns = {name: index for index, name in enumerate(header)}
    by_model = _score_columns(header, models)
    primary = next((cols[0][0] for cols in by_model.values() if cols), DEFAULT_METRIC)
    ids, references = [], []
    outputs: dict[str, list[str]] = {m: [] for m in models}
    scores: dict[str, dict[str, list[float]]] = {}
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{where}: line {line} has {len(row)} fields, the header {len(header)}")
        ids.append(row[0])
        references.append(row[1])
        for model in models:
            outputs[model].append(row[columns[f"{model}{PREDICTION_SUFFIX}"]])
            for metric, index in by_model[model]:
                try:
                    value = float(row[index])
                except ValueError:
                    raise InputError(f"{where}: line {line}: {header[index]} is not a number") from None
                scores.setdefault(metric, {}).setdefault(model, []).append(value)
    if not ids:  # a header only: the models still count as scored (on no documents)
        for model in models:
            for metric, _ in by_model[model]:
                scores.setdefault(metric, {}).setdefault(model, [])
    as_tuples = {metric: {m: tuple(v) for m, v in by.items()} for metric, by in scores.items()}
    return RunPredictions(tuple(ids), tuple(references), {m: tuple(v) for m, v in outputs.items()},
                          as_tuples.pop(primary, {}), primary, as_tuples)
