"""The dataset on disk (docs/ARCHITECTURE.md, "Dataset on disk"): columns, metadata, loading.

A dataset folder is `DatasetDict.save_to_disk` output (splits train/validation/test) plus
`deepsynth_dataset.json`, which records the `DatasetConfig` (render settings included), the task,
counts, warnings, the creation time and the DeepSynth version. Datasets built before `prompt`,
`page_texts` and `page_sources` existed load without them: read them with `column_or_default`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepsynth.configuration import ConfigError, from_dict
from deepsynth.data.config import DatasetConfig
from deepsynth.errors import InputError

METADATA_FILE = "deepsynth_dataset.json"
SPLITS = ("train", "validation", "test")
COLUMNS = ("id", "text", "summary", "instruction", "augmented_text", "image", "pages", "num_pages", "truncated",
           "prompt", "page_texts", "page_sources")
"""`summary` holds the target of any task (the reference answer); `prompt` is the per-example
prompt given to the model as text ("" : the rendered `instruction`, else the model's default);
`page_texts` is each page's PDF text layer (reference and baselines, never shown to the model);
`page_sources` says where each page came from (file, 1-based page, DPI; empty for pages DeepSynth
rendered from text)."""


def features() -> Any:
    """The `datasets.Features` of every split."""
    from datasets import Features, Image, List, Value

    return Features({
        "id": Value("string"),
        "text": Value("string"),
        "summary": Value("string"),
        "instruction": Value("string"),
        "augmented_text": Value("string"),
        "image": Image(),
        "pages": List(Image()),
        "num_pages": Value("int32"),
        "truncated": Value("bool"),
        "prompt": Value("string"),
        "page_texts": List(Value("string")),
        "page_sources": List({"file": Value("string"), "page": Value("int32"), "dpi": Value("int32")}),
    })


def column_or_default(split: Any, name: str, default: Any) -> list[Any]:
    """A column of a split as a list, or `default` per row when an older dataset lacks it."""
    if name in split.column_names:
        return list(split[name])
    return [default] * len(split)


@dataclass
class LoadedDataset:
    """A built dataset and the configuration that built it."""

    dataset: Any
    """`datasets.DatasetDict` with splits train, validation, test."""
    config: DatasetConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    """The whole `deepsynth_dataset.json` (counts, warnings, created, version...)."""


def read_metadata(path: str | Path) -> dict[str, Any]:
    """`deepsynth_dataset.json` of a dataset folder, without loading the data (cheap, for listings)."""
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not path.is_dir():
        raise InputError(f"{path}: no such dataset folder")
    if not meta_path.is_file():
        raise InputError(f"{path}: not a DeepSynth dataset (no {METADATA_FILE}); build one with `deepsynth dataset`")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{meta_path}: unreadable metadata: {error}") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("dataset_config"), dict):
        raise InputError(f"{meta_path}: metadata has no 'dataset_config' object")
    return metadata


def load_dataset_dir(path: str | Path) -> LoadedDataset:
    """Load a folder written by `build_dataset`: the `DatasetDict` (lazy, memory-mapped) and its config."""
    from datasets import DatasetDict, load_from_disk

    metadata = read_metadata(path)
    try:
        config = from_dict(DatasetConfig, metadata["dataset_config"])
    except (ConfigError, TypeError) as error:
        raise InputError(f"{Path(path) / METADATA_FILE}: invalid dataset_config: {error}") from None
    try:
        dataset = load_from_disk(str(path))
    except FileNotFoundError as error:
        raise InputError(f"{path}: the dataset files are incomplete: {error}") from None
    if not isinstance(dataset, DatasetDict) or set(dataset) != set(SPLITS):
        raise InputError(f"{path}: expected splits {', '.join(SPLITS)}")
    return LoadedDataset(dataset=dataset, config=config, metadata=metadata)
