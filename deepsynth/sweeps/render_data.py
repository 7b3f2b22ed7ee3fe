"""One dataset per render setting, from the same documents: what makes a render sweep fair.

The base dataset's `DatasetConfig` (its `deepsynth_dataset.json`) is rebuilt with only `render`
changed, into `<base>-render-<digest>/` beside the base folder (reused when a folder with exactly
that config exists; the base folder itself when the setting is the base's). After a build the
documents are checked against the base, split by split: same ids, same texts. A source that
changed since the base was built would otherwise compare different documents, not renderings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from deepsynth.configuration import ConfigError, from_dict, to_dict
from deepsynth.errors import InputError

Progress = Callable[[str, int, int], None]


def base_dataset_config(dataset: str) -> Any:
    """The `DatasetConfig` a dataset folder was built with; `InputError` if it is missing."""
    from deepsynth.data import DatasetConfig, read_metadata

    metadata = read_metadata(dataset)  # InputError naming the folder when it is not a dataset
    try:
        return from_dict(DatasetConfig, metadata["dataset_config"])
    except ConfigError as error:
        raise InputError(f"{dataset}: its dataset_config no longer validates: {error}") from None


def render_config(base_render: Any, values: dict[str, Any]) -> Any:
    """`base_render` with `values` ({field: value}, no `render.` prefix); ConfigError as `render.x`."""
    from deepsynth.render import RenderConfig

    data = {**to_dict(base_render), **{name: list(v) if isinstance(v, tuple) else v for name, v in values.items()}}
    try:
        return from_dict(RenderConfig, data)
    except ConfigError as error:
        raise ConfigError([(f"render.{name}", message) for name, message in error.problems], "render settings") from None


def variant_folder(base_dataset: str, render: Any) -> Path:
    digest = hashlib.sha256(json.dumps(to_dict(render), sort_keys=True).encode()).hexdigest()[:10]
    base = Path(base_dataset).absolute()
    return base.parent / f"{base.name}-render-{digest}"


def _documents(folder: str | Path) -> dict[str, tuple[list[str], list[str]]]:
    from deepsynth.data import SPLITS, load_dataset_dir

    dataset = load_dataset_dir(folder).dataset
    return {split: (list(dataset[split]["id"]), list(dataset[split]["text"])) for split in SPLITS}


def check_same_documents(base_dataset: str, variant: str | Path) -> None:
    """`InputError` unless both folders hold the same ids and texts in every split."""
    base, other = _documents(base_dataset), _documents(variant)
    for split, (ids, texts) in base.items():
        other_ids, other_texts = other[split]
        if ids != other_ids or texts != other_texts:
            raise InputError(f"{variant}: its {split} documents differ from {base_dataset}'s (did the source "
                             "change since the base dataset was built?); a render sweep must compare the "
                             "same documents: rebuild the base dataset first")


def dataset_for_render(base_dataset: str, render: Any, progress: Progress | None = None) -> str:
    """The folder of the base dataset's documents rendered with `render` (built or reused)."""
    from dataclasses import replace

    from deepsynth.data import build_dataset, read_metadata

    config = base_dataset_config(base_dataset)
    if render == config.render:
        return str(Path(base_dataset))
    wanted = replace(config, render=render)
    folder = variant_folder(base_dataset, render)
    if folder.is_dir():
        try:
            reusable = read_metadata(folder)["dataset_config"] == to_dict(wanted)
        except InputError:
            reusable = False
        if reusable:
            check_same_documents(base_dataset, folder)
            return str(folder)
    done = (lambda d, t: progress(str(folder), d, t)) if progress else None
    build_dataset(wanted, folder, done, overwrite=folder.is_dir())
    check_same_documents(base_dataset, folder)
    return str(folder)
