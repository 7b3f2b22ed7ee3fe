"""The files of an adapter folder (docs/ARCHITECTURE.md, "Adapter on disk"), in one place.

    adapter_model.safetensors, adapter_config.json   the adapter, vanilla PEFT
    projection.safetensors                           extra trained weights, when the model has any
    deepsynth_model.json                             model config + base identity + render config
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deepsynth.errors import InputError

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PROJECTION_WEIGHTS = "projection.safetensors"
MODEL_CARD = "deepsynth_model.json"
REQUIRED_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG, MODEL_CARD)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".npy", ".npz", ".joblib", ".h5", ".pb")
"""Weight formats that can run code on load (pickle) or that DeepSynth never writes: refused."""


def has_adapter(folder: str | Path) -> bool:
    """True once `folder` holds adapter weights (a finished download or copy)."""
    return (Path(folder) / ADAPTER_WEIGHTS).is_file()


def read_model_card(folder: str | Path) -> dict[str, Any]:
    return _read_json(Path(folder) / MODEL_CARD, "not a DeepSynth adapter folder")


def read_adapter_config(folder: str | Path) -> dict[str, Any]:
    return _read_json(Path(folder) / ADAPTER_CONFIG, "not an adapter folder")


def _read_json(path: Path, missing_means: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise InputError(f"{path}: missing ({missing_means})") from error
    except json.JSONDecodeError as error:
        raise InputError(f"{path}, line {error.lineno}, column {error.colno}: {error.msg}") from error


def check_adapter_folder(folder: str | Path, where: str | None = None,
                         required: tuple[str, ...] = REQUIRED_FILES) -> list[Path]:
    """Refuse a folder without the `required` files or with pickle-based weights, and check every
    safetensors header (a corrupt or renamed file fails here, before anything loads it). Returns
    the safetensors files."""
    from deepsynth.adapter_format.safetensors_check import read_header

    folder = Path(folder)
    where = where or str(folder)
    if not folder.is_dir():
        raise InputError(f"{where}: not an adapter folder")
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise InputError(f"{where}: pickle-based weights refused ({', '.join(pickles)}); "
                         "adapters travel as safetensors")
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)} (a DeepSynth adapter folder has "
                         f"{', '.join(REQUIRED_FILES)})")
    weights = sorted(folder.glob("*.safetensors"))
    for path in weights:
        read_header(path)
    return weights
