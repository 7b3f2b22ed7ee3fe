"""Fetching what an export needs from an MLflow run (through `deepsynth.tracking`, never mlflow).

The run's artifacts follow the "Adapter on disk" contract (docs/ARCHITECTURE.md): `adapter/`,
`config/train_config.json`, `eval/rouge.json`, `estimate.json`; only `adapter/` is required.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from deepsynth.errors import InputError

@dataclass(frozen=True)
class RunRecord:
    """What the model card says about the run that trained the adapter."""

    run_id: str | None = None
    """MLflow run id (None when exporting a bare adapter folder)."""
    params: Mapping[str, str] = field(default_factory=dict)
    """The run's flat params (`flat_params(TrainConfig)`)."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """The run's latest metric values (`eval/rougeL`, `memory/estimated_bytes`, ...)."""
    train_config: Mapping[str, Any] | None = None
    """`config/train_config.json`, if logged."""
    estimate: Mapping[str, Any] | None = None
    """`estimate.json` (the pre-training estimate), if logged."""
    rouge: Mapping[str, Any] | None = None
    """`eval/rouge.json`, if logged."""
    tracking_uri: str | None = None
    """The tracking store the run lives in."""
    run_name: str = ""
    """The run's display name."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The run's tags (its task and primary metric, the evaluated split)."""


OPTIONAL_ARTIFACTS = {
    "train_config": "config/train_config.json",
    "rouge": "eval/rouge.json",
    "estimate": "estimate.json",
}


def _artifact_paths(run_id: str, folder: str, uri: str | None) -> set[str]:
    from deepsynth.tracking.store import client_for, with_retry

    return {item.path for item in with_retry(client_for(uri).list_artifacts, run_id, folder or None)}


def fetch_run(run_id: str, dest: Path, uri: str | None = None) -> tuple[Path, RunRecord]:
    """Download the run's adapter (and optional metadata files) into `dest`; return the adapter
    folder and what the model card needs. Raises `InputError` for an unknown run or one without
    an adapter."""
    from deepsynth.tracking.queries import get_run
    from deepsynth.tracking.store import download_artifacts, resolve_tracking_uri

    try:
        run = get_run(run_id, uri)
    except Exception as error:  # mlflow raises its own exception type for an unknown id
        if "not found" in str(error).lower() or "RESOURCE_DOES_NOT_EXIST" in str(error):
            raise InputError(f"run {run_id!r} not found in {resolve_tracking_uri(uri)}") from None
        raise
    top = _artifact_paths(run_id, "", uri)
    if "adapter" not in top:
        raise InputError(f"run {run_id!r} has no adapter/ artifact (did training finish?)")
    dest.mkdir(parents=True, exist_ok=True)
    adapter_dir = download_artifacts(run_id, "adapter", dest, uri)
    found: dict[str, Any] = {}
    for key, path in OPTIONAL_ARTIFACTS.items():
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        if folder and folder not in top:
            continue
        if path not in (_artifact_paths(run_id, folder, uri) if folder else top):
            continue
        local = download_artifacts(run_id, path, dest, uri)
        found[key] = json.loads(Path(local).read_text(encoding="utf-8"))
    record = RunRecord(run_id=run_id, params=dict(run.params), metrics=dict(run.metrics),
                       train_config=found.get("train_config"), estimate=found.get("estimate"),
                       rouge=found.get("rouge"), tracking_uri=resolve_tracking_uri(uri),
                       run_name=run.run_name, tags=dict(run.tags))
    return Path(adapter_dir), record
