"""What a finished run produced, read back for people: its evaluation (`eval/rouge.json`) and
sample outputs (`eval/predictions.csv`), as `deepsynth.training.evaluate` wrote them."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException

from deepsynth.tracking.store import client_for, with_retry

ROUGE_FILE = "eval/rouge.json"
PREDICTIONS_FILE = "eval/predictions.csv"


@dataclass(frozen=True)
class RunEvaluation:
    """A run's ROUGE scores per model and a few of its predictions."""

    split: str
    """The split the documents came from."""
    docs: int
    """Documents scored."""
    scores: dict[str, dict[str, float]]
    """Model (`tuned`, `base`) -> {rouge1, rouge2, rougeL} in points."""
    samples: list[dict[str, str]] = field(default_factory=list)
    """The first predictions: id, reference, `<model>_prediction`, `<model>_rougeL`."""


def _artifact_text(run_id: str, path: str, uri: str | None) -> str | None:
    with tempfile.TemporaryDirectory(prefix="deepsynth-artifact-") as folder:
        try:
            local = with_retry(client_for(uri).download_artifacts, run_id, path, folder)
        except (MlflowException, OSError):
            return None
        file = Path(local)
        return file.read_text(encoding="utf-8") if file.is_file() else None


def read_evaluation(run_id: str, uri: str | None = None, samples: int = 5) -> RunEvaluation | None:
    """The run's evaluation, or None when it has none (still training, or `eval_docs` 0)."""
    text = _artifact_text(run_id, ROUGE_FILE, uri)
    if text is None:
        return None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        return None
    scores = {str(model): {k: float(v) for k, v in values.items()}
              for model, values in (data.get("rouge") or {}).items() if isinstance(values, dict)}
    rows: list[dict[str, str]] = []
    predictions = _artifact_text(run_id, PREDICTIONS_FILE, uri)
    if predictions:
        rows = [dict(row) for _, row in zip(range(samples), csv.DictReader(io.StringIO(predictions)))]
    return RunEvaluation(str(data.get("split", "")), int(data.get("docs", 0) or 0), scores, rows)
