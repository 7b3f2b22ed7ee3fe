"""Runs side by side, one row per held-out document: where do they disagree, and why?

`join_documents` joins several runs' `eval/predictions.csv` on the document id (the documents
every run scored), with the reference target, each run's output and primary score (ROUGE-L for
summaries, CER for transcriptions...), and how each run differs from a reference run;
`sort_documents` orders the rows by the question asked. Gains and losses read the metric's
direction: a lower CER is a gain. Pure pandas; the Compare page, the HTML report and
`deepsynth compare` share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from deepsynth.evaluation.keys import TUNED
from deepsynth.evaluation.metric import LOWER

DISAGREEMENT = "largest disagreement"
GAIN = "biggest gain vs reference"
LOSS = "biggest loss vs reference"
DOCUMENT_ORDER = "document order"
ORDERS = (DISAGREEMENT, GAIN, LOSS, DOCUMENT_ORDER)
"""Ways to sort the per-document table."""

OUTPUT, SCORE = "output", "ROUGE-L"
"""Column suffixes; SCORE is the summarize runs' score label (other tasks: `DocumentTable.score_label`)."""


def output_column(label: str) -> str:
    return f"{label} · {OUTPUT}"


def score_column(label: str, score_label: str = SCORE) -> str:
    return f"{label} · {score_label}"


@dataclass(frozen=True)
class DocumentTable:
    """The joined table and what it left out."""

    table: Any
    """DataFrame: id, reference, then per run `<label> · output` and `<label> · <score label>`,
    then `spread` (best minus worst run), `best gain` and `worst loss` (other runs against the
    reference run, positive = better in the metric's direction; 0 with a single run)."""
    labels: tuple[str, ...]
    """Run labels in column order, the reference run first."""
    reference: str
    """The reference run's label."""
    left_out: dict[str, int]
    """Run label -> its documents that not every run scored (left out of the table)."""
    extras: dict[str, str] = field(default_factory=dict)
    """Column prefix -> model, for the reference run's other models shown (e.g. a baseline)."""
    metric: str = "rougeL"
    """The score joined: the reference run's primary metric."""
    score_label: str = SCORE
    """How score columns name it (`ROUGE-L`, `CER`)."""
    direction: str = "higher"
    """Which way the score is better."""


def join_documents(runs: Mapping[str, Any], reference: str, model: str = TUNED,
                   extra_models: tuple[str, ...] = ()) -> DocumentTable:
    """Join `runs` (label -> `RunPredictions`) on document id; `reference` is one of the labels.
    `extra_models` adds columns for other models of the reference run (e.g. `first_clause`).
    Runs scored with another primary metric than the reference run are left out (counted)."""
    import pandas as pd

    from deepsynth.evaluation.metrics import direction as direction_of
    from deepsynth.evaluation.metrics import label as label_of

    if reference not in runs:
        raise ValueError(f"reference run {reference!r} is not among the runs joined")
    metric = runs[reference].metric
    other_metric = {label: len(found.ids) for label, found in runs.items() if found.metric != metric}
    runs = {label: found for label, found in runs.items() if label not in other_metric}
    direction, score_label = direction_of(metric), label_of(metric)
    labels = (reference, *[label for label in runs if label != reference])
    common = set(runs[reference].ids)
    for label in labels[1:]:
        common &= set(runs[label].ids)
    first = runs[reference]
    order = [doc_id for doc_id in first.ids if doc_id in common]  # the reference run's order
    reference_text = dict(zip(first.ids, first.references))
    data: dict[str, Any] = {"id": order, "reference": [reference_text[i] for i in order]}
    for label in labels:
        found = runs[label]
        outputs = dict(zip(found.ids, found.outputs.get(model, ("",) * len(found.ids))))
        scores = found.scores(model)
        data[output_column(label)] = [outputs[i] for i in order]
        data[score_column(label, score_label)] = [scores[i] for i in order]
    extras = {}
    for extra in extra_models:
        if extra in first.outputs:
            name = f"{reference} · {extra}"
            extras[name] = extra
            data[output_column(name)] = [dict(zip(first.ids, first.outputs[extra]))[i] for i in order]
            data[score_column(name, score_label)] = [first.scores(extra)[i] for i in order]
    table = pd.DataFrame(data)
    scores = table[[score_column(label, score_label) for label in labels]]
    table["spread"] = scores.max(axis=1) - scores.min(axis=1)
    reference_column = score_column(reference, score_label)
    differences = scores.sub(scores[reference_column], axis=0).drop(columns=reference_column)
    if direction == LOWER:  # a lower error rate is the gain
        differences = -differences
    table["best gain"] = differences.max(axis=1) if len(labels) > 1 else 0.0
    table["worst loss"] = differences.min(axis=1) if len(labels) > 1 else 0.0
    left_out = {label: len(set(runs[label].ids) - common) for label in labels if set(runs[label].ids) - common}
    left_out.update(other_metric)
    return DocumentTable(table, labels, reference, left_out, extras, metric, score_label, direction)


def sort_documents(table: Any, order: str) -> Any:
    """Rows in the order asked for (`ORDERS`); ties keep the document order."""
    if order == DISAGREEMENT:
        return table.sort_values("spread", ascending=False, kind="stable")
    if order == GAIN:
        return table.sort_values("best gain", ascending=False, kind="stable")
    if order == LOSS:
        return table.sort_values("worst loss", ascending=True, kind="stable")
    if order == DOCUMENT_ORDER:
        return table
    raise ValueError(f"unknown order {order!r}; one of {', '.join(ORDERS)}")


def document_index(loaded: Any) -> dict[str, tuple[str, int]]:
    """Document id -> (split, row) over every split of a loaded dataset (ids are unique in one)."""
    index: dict[str, tuple[str, int]] = {}
    for name, split in loaded.dataset.items():
        for row, doc_id in enumerate(list(split["id"])):
            index.setdefault(doc_id, (name, row))
    return index


def find_document(loaded: Any, doc_id: str,
                  index: Mapping[str, tuple[str, int]] | None = None) -> dict[str, Any] | None:
    """The dataset row (`id`, `text`, `summary`, `pages`, ...) of document `doc_id` plus its
    `split`; None when the dataset has no such document (a run whose dataset folder was rebuilt
    with other documents). Pass `document_index(loaded)` when looking up many."""
    where = (index if index is not None else document_index(loaded)).get(doc_id)
    if where is None:
        return None
    split, row = where
    return {**loaded.dataset[split][row], "split": split}
