"""What a run's evaluation is called in the tracking store: metric keys, tags, artifact files.

One definition for the writer (`deepsynth.training.evaluate`) and the readers (the Compare page,
`deepsynth compare`, the demo). Models scored on a run: the tuned adapter (`tuned`), the untouched
base (`base`) and the non-learned baselines (`deepsynth.evaluation.baselines.BASELINE_NAMES`).

    eval/rougeL, eval/rougeL_lo, eval/rougeL_hi          tuned, with its 95% bootstrap interval
    eval/base_rougeL, eval/base_rougeL_lo, ...           the base model
    eval/first_clause_rougeL, eval/lead_k_rougeL, ...    the baselines
    eval/docs                                            documents every score above was computed on

Other tasks log their metrics under the same pattern with the short names of
`deepsynth.evaluation.metrics` (`eval/cer`, `eval/base_cer_lo`, `eval/reader_cer`, `eval/anls`...),
plus `eval/<name>_corpus` for the metrics whose corpus figure is not the mean over documents, and
tag the run with its task and primary metric (`TASK_TAG`, `PRIMARY_METRIC_TAG`). A run without
those tags is a summarize run ranked by ROUGE-L (every run evaluated before tasks existed).
"""

from __future__ import annotations

from deepsynth.evaluation.baselines import BASELINE_NAMES
from deepsynth.evaluation.metrics import METRIC_NAMES
from deepsynth.evaluation.task_baselines import TASK_BASELINE_NAMES

TUNED = "tuned"
BASE = "base"
ALL_BASELINES = (*BASELINE_NAMES, *TASK_BASELINE_NAMES)
"""Every non-learned baseline of every task, in table order."""
MODELS = (TUNED, BASE, *ALL_BASELINES)
"""Everything a run may score, in table order."""
LOW, HIGH = "lo", "hi"
"""Suffixes of an interval's bounds."""
CORPUS = "corpus"
"""Suffix of a metric's corpus aggregate (`eval/cer_corpus`), where it differs from the mean."""
DEFAULT_PRIMARY = "rougeL"
"""The primary metric of a run that names none (summarize, and runs from before tasks)."""

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
TASK_TAG = "deepsynth.task"
"""The run's task (`deepsynth.evaluation.tasks.TASKS`); absent: summarize."""
PRIMARY_METRIC_TAG = "deepsynth.primary_metric"
"""The metric the run is ranked by (`cer`, `anls`...); absent: rougeL."""
PRIMARY_REASON_TAG = "deepsynth.primary_metric_reason"
"""Why that metric (QA: the median answer length)."""

PREDICTIONS_FILE = "eval/predictions.csv"
"""Per document: id, reference, then each model's summary and its ROUGE-L."""
ROUGE_FILE = "eval/rouge.json"
"""Split, document count, every model's mean scores and intervals, the baselines' choices."""

LABELS = {TUNED: "tuned", BASE: "base (untouched)", "lead_k": "lead-k", "first_clause": "first-clause",
          "constant": "constant", "reader": "reader alone", "frequent_answer": "most frequent answer",
          "lead": "lead", "best_sentence": "best-matching sentence", "frequent_values": "most frequent values",
          "copy_source": "source copied"}
"""How tables name each model."""


def metric_key(model: str, metric: str = "rougeL", bound: str = "") -> str:
    """`eval/rougeL` (tuned), `eval/base_rougeL`, `eval/lead_k_rougeL_lo`, `eval/cer_corpus`, ..."""
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(METRIC_NAMES)}")
    if bound not in ("", LOW, HIGH, CORPUS):
        raise ValueError(f"bound must be '', {LOW!r}, {HIGH!r} or {CORPUS!r}, got {bound!r}")
    name = metric if model == TUNED else f"{model}_{metric}"
    return f"eval/{name}" + (f"_{bound}" if bound else "")


def documents_digest(split: str, ids: list[str] | tuple[str, ...]) -> str:
    """`<split>:<count>:<12 hex digits of the sorted ids>`: two runs with equal digests were scored
    on the same documents."""
    import hashlib

    digest = hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:12]
    return f"{split}:{len(ids)}:{digest}"


def primary_metric(tags: dict[str, str] | None) -> str:
    """The metric a run is ranked by, from its tags (`rougeL` when it names none or an unknown one)."""
    name = (tags or {}).get(PRIMARY_METRIC_TAG, "")
    return name if name in METRIC_NAMES else DEFAULT_PRIMARY


def direction_of_key(key: str) -> str:
    """`lower` for a tracked metric key of an error rate (`eval/cer`, `eval/base_wer_lo`,
    `eval/cer_corpus`, `sweep/best_cer`), else `higher` (ROUGE, ANLS... and keys outside the registry)."""
    from deepsynth.evaluation.metrics import direction

    name = key.rsplit("/", 1)[-1]
    for suffix in (f"_{LOW}", f"_{HIGH}", f"_{CORPUS}"):
        if name.endswith(suffix):
            name = name[:-len(suffix)]
            break
    for metric in sorted(METRIC_NAMES, key=len, reverse=True):
        if name == metric or name.endswith(f"_{metric}"):
            return direction(metric)
    return "higher"
