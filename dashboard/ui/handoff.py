"""The settings chosen on the estimate page, handed to the Train page via a file.

A file (not session state) so the choice survives a reload or a dashboard restart:
`<workspace>/workspace/dashboard-training-choice.json` = {"model", "vision_interface", "preset",
"lora", "batch_size", "epochs", "saved_at"}. The Train page applies a choice once, when it is newer
than the last one it applied (`saved_at`), and opens on "From the estimate page" with its values.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from deepsynth import paths
from deepsynth.atomic_files import write_json_atomic
from deepsynth.configuration import ConfigError, from_dict, to_dict
from deepsynth.lora import LoraSettings, preset_label

FILE = "dashboard-training-choice.json"
SOURCE = "From the estimate page"
"""The Train page's name for settings that came from here."""


@dataclass(frozen=True)
class TrainingChoice:
    """Settings picked on the estimate page for the next training job."""

    model: str
    """ModelConfig.name: default, tiny, or a local model folder."""
    vision_interface: str
    """ocr_text or features."""
    preset: str
    """The preset the LoRA settings started from (`custom` once edited)."""
    lora: LoraSettings
    """The LoRA settings themselves."""
    batch_size: int | None = None
    """Documents per step the estimate was made for (None: the Train page's own)."""
    epochs: float | None = None
    """Passes over the data the estimate was made for."""
    saved_at: float = field(default_factory=time.time)
    """When it was handed over (the Train page applies each choice once)."""

    @property
    def label(self) -> str:
        return preset_label(self.preset, self.lora)


def choice_path() -> Path:
    return paths.home() / "workspace" / FILE


def save(choice: TrainingChoice) -> Path:
    return write_json_atomic(choice_path(), {"model": choice.model, "vision_interface": choice.vision_interface,
                                             "preset": choice.label, "lora": to_dict(choice.lora),
                                             "batch_size": choice.batch_size, "epochs": choice.epochs,
                                             "saved_at": choice.saved_at})


def load() -> TrainingChoice | None:
    """The saved choice, or None when there is none or it no longer validates."""
    try:
        data = json.loads(choice_path().read_text(encoding="utf-8"))
        return TrainingChoice(str(data["model"]), str(data["vision_interface"]), str(data["preset"]),
                              from_dict(LoraSettings, data["lora"]),
                              int(data["batch_size"]) if data.get("batch_size") else None,
                              float(data["epochs"]) if data.get("epochs") else None,
                              float(data.get("saved_at") or 0.0))
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError, ConfigError):
        return None
