"""A run's per-document outputs: `eval/predictions.csv`, written and read back.

One row per evaluated document: `id`, `reference`, then for each model scored on the run
(`tuned`, `base`, the baselines) `<model>_prediction` and `<model>_rougeL` (points, 2 decimals).
The document id is what joins runs per document (`deepsynth.evaluation.per_document`) and finds
the page image in the run's dataset.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Mapping

from deepsynth.errors import InputError
from deepsynth.evaluation.rouge import Evaluation

ID, REFERENCE = "id", "reference"
PREDICTION_SUFFIX, SCORE_SUFFIX = "_prediction", "_rougeL"


def predictions_csv(evaluations: Mapping[str, Evaluation]) -> str:
    """One row per document: id, reference, then each model's prediction and its ROUGE-L."""
    names = list(evaluations)
    first = evaluations[names[0]]
    for name, evaluation in evaluations.items():
        if evaluation.ids != first.ids:
            raise ValueError(f"{name} was scored on other documents than {names[0]}")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([ID, REFERENCE] + [c for n in names for c in (f"{n}{PREDICTION_SUFFIX}", f"{n}{SCORE_SUFFIX}")])
    for index, doc_id in enumerate(first.ids):
        row = [doc_id, first.references[index]]
        for name in names:
            evaluation = evaluations[name]
            row += [evaluation.predictions[index], f"{evaluation.per_document[index]['rougeL']:.2f}"]
        writer.writerow(row)
    return out.getvalue()


@dataclass(frozen=True)
class RunPredictions:
    """A run's `eval/predictions.csv`, by model."""

    ids: tuple[str, ...]
    """Document ids, in the order the run scored them."""
    references: tuple[str, ...]
    """Reference summaries, same order."""
    outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Model -> what it wrote for each document."""
    rougeL: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Model -> ROUGE-L (points) of each document."""

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.outputs)

    def scores(self, model: str) -> dict[str, float]:
        """Document id -> ROUGE-L of `model` (what paired comparisons take)."""
        if model not in self.rougeL:
            raise KeyError(f"no {model} scores in this run's predictions (has {', '.join(self.rougeL) or 'none'})")
        return dict(zip(self.ids, self.rougeL[model]))


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
    ids, references = [], []
    outputs: dict[str, list[str]] = {m: [] for m in models}
    scores: dict[str, list[float]] = {m: [] for m in models if f"{m}{SCORE_SUFFIX}" in columns}
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{where}: line {line} has {len(row)} fields, the header {len(header)}")
        ids.append(row[0])
        references.append(row[1])
        for model in models:
            outputs[model].append(row[columns[f"{model}{PREDICTION_SUFFIX}"]])
            if model in scores:
                try:
                    scores[model].append(float(row[columns[f"{model}{SCORE_SUFFIX}"]]))
                except ValueError:
                    raise InputError(f"{where}: line {line}: {model}{SCORE_SUFFIX} is not a number") from None
    return RunPredictions(tuple(ids), tuple(references), {m: tuple(v) for m, v in outputs.items()},
                          {m: tuple(v) for m, v in scores.items()})
