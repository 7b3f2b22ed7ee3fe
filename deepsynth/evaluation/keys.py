"""What a run's evaluation is called in the tracking store: metric keys, tags, artifact files.

One definition for the writer (`deepsynth.training.evaluate`) and the readers (the Compare page,
`deepsynth compare`, the demo). Models scored on a run: the tuned adapter (`tuned`), the untouched
base (`base`) and the non-learned baselines (`deepsynth.evaluation.baselines.BASELINE_NAMES`).

    eval/rougeL, eval/rougeL_lo, eval/rougeL_hi          tuned, with its 95% bootstrap interval
    eval/base_rougeL, eval/base_rougeL_lo, ...           the base model
    eval/first_clause_rougeL, eval/lead_k_rougeL, ...    the baselines
    eval/docs                                            documents every score above was computed on
"""

from __future__ import annotations

from deepsynth.evaluation.baselines import BASELINE_NAMES
from deepsynth.evaluation.rouge import ROUGE_KEYS

TUNED = "tuned"
BASE = "base"
MODELS = (TUNED, BASE, *BASELINE_NAMES)
"""Everything a run may score, in table order."""
LOW, HIGH = "lo", "hi"
"""Suffixes of an interval's bounds."""

DOCS_METRIC = "eval/docs"
"""Documents the run's scores were computed on."""
REQUESTED_METRIC = "eval/docs_requested"
"""Documents the run asked for (`TrainConfig.eval_docs`)."""

SPLIT_TAG = "deepsynth.eval_split"
"""The split the run was evaluated on (`auto` resolved: test, validation or train)."""
DOCUMENTS_TAG = "deepsynth.eval_documents"
"""A digest of the evaluated document ids: equal digests, same documents (paired comparisons)."""
SHORTFALL_TAG = "deepsynth.eval_shortfall"
"""Set when the run asked for more documents than its split holds; says how many it got."""
DATASET_TAG = "deepsynth.dataset"
"""The dataset folder the run trained and evaluated on (set by the worker)."""

PREDICTIONS_FILE = "eval/predictions.csv"
"""Per document: id, reference, then each model's summary and its ROUGE-L."""
ROUGE_FILE = "eval/rouge.json"
"""Split, document count, every model's mean scores and intervals, the baselines' choices."""

LABELS = {TUNED: "tuned", BASE: "base (untouched)", "lead_k": "lead-k", "first_clause": "first-clause",
          "constant": "constant"}
"""How tables name each model."""


def metric_key(model: str, metric: str = "rougeL", bound: str = "") -> str:
    """`eval/rougeL` (tuned), `eval/base_rougeL`, `eval/lead_k_rougeL_lo`, ..."""
    if metric not in ROUGE_KEYS:
        raise ValueError(f"unknown ROUGE metric {metric!r}; one of {', '.join(ROUGE_KEYS)}")
    if bound not in ("", LOW, HIGH):
        raise ValueError(f"bound must be '', {LOW!r} or {HIGH!r}, got {bound!r}")
    name = metric if model == TUNED else f"{model}_{metric}"
    return f"eval/{name}" + (f"_{bound}" if bound else "")


def documents_digest(split: str, ids: list[str] | tuple[str, ...]) -> str:
    """`<split>:<count>:<12 hex digits of the sorted ids>`: two runs with equal digests were scored
    on the same documents."""
    import hashlib

    digest = hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:12]
    return f"{split}:{len(ids)}:{digest}"
