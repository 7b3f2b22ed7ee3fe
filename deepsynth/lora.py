"""LoRA/QLoRA settings and the named presets.

`LoraSettings` is the one description of an adapter that the estimator, the model builder and the
trainer share; `to_peft_kwargs` maps it to `peft.LoraConfig` arguments (TRL's pure-mapper style).
Checks that need the model's architecture (rank vs. the targeted dimensions, target names that
match no module) live in `deepsynth.estimate`, which knows the architecture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from importlib import resources
from typing import Any

from deepsynth.configuration import ConfigError, Problems, choice

QUANTIZATIONS = ("none", "nf4", "fp4", "int8")
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
BIASES = ("none", "all", "lora_only")


@dataclass(frozen=True)
class LoraSettings:
    """A LoRA/QLoRA adapter configuration."""

    rank: int = 16
    """LoRA rank r: the inner dimension of the low-rank update B·A."""
    alpha: float = 32.0
    """LoRA alpha: the update is scaled by alpha / rank."""
    dropout: float = 0.05
    """Dropout on the LoRA branch input, in [0, 1)."""
    target_modules: tuple[str, ...] = ()
    """Module names to adapt (e.g. q_proj, v_proj); empty means the family's default targets. On a
    vision-language model a plain name adapts the language model only; a module path (e.g.
    model.vision_tower.q_proj) adapts the vision tower or projector."""
    bias: str = choice("none", BIASES)
    """Which biases train: none, all, or lora_only (PEFT's `bias`)."""
    quantization: str = choice("none", QUANTIZATIONS)
    """Base weights: none (16/32-bit), nf4 or fp4 (4-bit QLoRA), int8 (LLM.int8)."""
    double_quantization: bool = False
    """QLoRA double quantization: quantize the 4-bit blocks' absmax constants too."""
    compute_dtype: str = choice("bfloat16", COMPUTE_DTYPES)
    """Dtype of the matmuls on quantized weights (bitsandbytes compute dtype)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        problems = Problems("LoRA settings")
        problems.check(isinstance(self.rank, int) and self.rank >= 1, "rank",
                       f"must be an integer >= 1, got {self.rank!r}")
        problems.check(isinstance(self.alpha, (int, float)) and self.alpha > 0, "alpha",
                       f"must be > 0, got {self.alpha!r}")
        problems.check(isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1, "dropout",
                       f"must be in [0, 1), got {self.dropout!r}")
        problems.check(self.bias in BIASES, "bias", f"must be one of {', '.join(BIASES)}, got {self.bias!r}")
        problems.check(self.quantization in QUANTIZATIONS, "quantization",
                       f"must be one of {', '.join(QUANTIZATIONS)}, got {self.quantization!r}")
        problems.check(self.compute_dtype in COMPUTE_DTYPES, "compute_dtype",
                       f"must be one of {', '.join(COMPUTE_DTYPES)}, got {self.compute_dtype!r}")
        problems.check(not (self.double_quantization and self.quantization not in ("nf4", "fp4")),
                       "double_quantization", "only applies to 4-bit quantization (nf4/fp4)")
        bad_targets = [t for t in self.target_modules if not t or not str(t).replace("_", "").replace(".", "").isalnum()]
        problems.check(not bad_targets, "target_modules", f"invalid module names: {bad_targets}")
        problems.raise_if_any()

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    @property
    def is_quantized(self) -> bool:
        return self.quantization != "none"

    def with_targets(self, targets: tuple[str, ...]) -> "LoraSettings":
        return replace(self, target_modules=tuple(targets))

    def to_peft_kwargs(self) -> dict[str, Any]:
        """Arguments for `peft.LoraConfig` (task type and targets resolved by the caller)."""
        return {
            "r": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": self.dropout,
            "target_modules": list(self.target_modules) or None,
            "bias": self.bias,
        }


@lru_cache(maxsize=1)
def _preset_table() -> dict[str, dict[str, Any]]:
    return json.loads(resources.files("deepsynth").joinpath("presets.json").read_text())


def preset_names() -> list[str]:
    return list(_preset_table())


def preset_description(name: str) -> str:
    return _preset_table()[name].get("description", "")


def preset(name: str, **overrides: Any) -> LoraSettings:
    """The named preset, with any field overridden (`preset("standard", rank=8)`)."""
    table = _preset_table()
    if name not in table:
        raise ConfigError([("preset", f"unknown preset {name!r}; choose one of {', '.join(table)}")])
    values = {k: v for k, v in table[name].items() if k != "description"}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "target_modules" in values:
        values["target_modules"] = tuple(values["target_modules"])
    return LoraSettings(**values)


CUSTOM_PRESET = "custom"
"""The preset label of LoRA settings that match no preset exactly."""


def preset_label(name: str, lora: LoraSettings) -> str:
    """`name` when `lora` is exactly that preset, else `custom` (what runs record for comparisons)."""
    return name if name in _preset_table() and preset(name) == lora else CUSTOM_PRESET


LORA_FIELDS = tuple(f.name for f in fields(LoraSettings))
