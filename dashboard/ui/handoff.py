"""The model and LoRA settings chosen on the estimate page, handed to the Train page via a file.

A file (not session state) so the choice survives a reload or a dashboard restart:
`<workspace>/workspace/dashboard-training-choice.json` = {"model", "vision_interface", "preset", "lora"}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from deepsynth import paths
from deepsynth.atomic_files import write_json_atomic
from deepsynth.configuration import ConfigError, from_dict, to_dict
from deepsynth.lora import LoraSettings, preset_label

FILE = "dashboard-training-choice.json"


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


def choice_path() -> Path:
    return paths.home() / "workspace" / FILE


def save(choice: TrainingChoice) -> Path:
    return write_json_atomic(choice_path(), {"model": choice.model, "vision_interface": choice.vision_interface,
                                             "preset": preset_label(choice.preset, choice.lora),
                                             "lora": to_dict(choice.lora)})


def load() -> TrainingChoice | None:
    """The saved choice, or None when there is none or it no longer validates."""
    try:
        data = json.loads(choice_path().read_text(encoding="utf-8"))
        return TrainingChoice(str(data["model"]), str(data["vision_interface"]), str(data["preset"]),
                              from_dict(LoraSettings, data["lora"]))
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ConfigError):
        return None
