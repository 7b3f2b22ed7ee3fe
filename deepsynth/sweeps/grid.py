"""The axes of a sweep: `field=v1,v2,...` over any `TrainConfig` field (dotted paths) or any
`RenderConfig` field, typed from the dataclasses, expanded to a full grid or to N random draws.

    axes = parse_axes(["lora.rank=4,8,16", "learning_rate=1e-4,1e-3"], render=["font_size=16,22"])
    points = expand(axes)                      # 12 dicts {path: value}, the grid in order
    points = expand(axes, random_draws=5, seed=0)

Values take the field's type and bounds (`deepsynth.settings`: int, float, on/off, a choice, `auto`); a list field takes
items joined by `+` (`lora.target_modules=q_proj+v_proj,all-linear`). `preset=minimal,standard`
sets the LoRA values of each preset (other `lora.*` axes then apply on top). Render fields are
written `--render font_size=...` or `render.font_size=...`: a sweep over them renders the same
documents once per setting (`deepsynth.sweeps.render_data`). Bad input is one `ConfigError`
naming every problem: an unknown field (with the valid ones), a value of the wrong type, a value
given twice, an axis without values.
"""

from __future__ import annotations

import difflib
import functools
import math
import random
from dataclasses import dataclass
from typing import Any, Iterable

from deepsynth.configuration import ConfigError

RENDER = "render."
"""Prefix of render-field paths (`render.font_size`)."""
PRESET = "preset"
NOT_SWEPT = ("dataset", "sweep_id", "preset")
"""TrainConfig fields that are not axes as such: the dataset follows the render settings, the
sweep id is the sweep's own, and `preset` is handled above (it sets the LoRA values)."""
LIST_JOIN = "+"
"""Joins the items of one value of a list field (`q_proj+v_proj`)."""


@dataclass(frozen=True)
class Axis:
    """One swept field and the values it takes."""

    path: str
    """Dotted field path: `learning_rate`, `lora.rank`, `preset`, or `render.font_size`."""
    values: tuple[Any, ...]
    """Typed values, in the order given."""

    @property
    def is_render(self) -> bool:
        return self.path.startswith(RENDER)


@functools.lru_cache(maxsize=1)
def _settings() -> dict[str, Any]:
    """path -> `Setting` (type, choices, bounds) of every field a sweep can vary."""
    from deepsynth.render import RenderConfig
    from deepsynth.settings import settings_of
    from deepsynth.training.config import TrainConfig

    fields = {found.path: found for found in settings_of(TrainConfig, skip=NOT_SWEPT)}
    fields.update({RENDER + found.path: found for found in settings_of(RenderConfig)})
    return fields


def sweepable_fields() -> list[str]:
    """Every path a sweep accepts, training fields first."""
    return [PRESET] + sorted(p for p in _settings() if not p.startswith(RENDER)) + sorted(p for p in _settings() if p.startswith(RENDER))


def _unknown(path: str) -> str:
    close = difflib.get_close_matches(path, sweepable_fields(), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown field{hint}; valid fields: {', '.join(sweepable_fields())}"


def _typed(path: str, text: str) -> Any:
    """`text` as the value of field `path` (`Setting.parse`, as its flag reads it; a list's items
    joined by `+`); ValueError saying why not."""
    from deepsynth.lora import preset_names

    if path == PRESET:
        if text not in preset_names():
            raise ValueError(f"{text!r} is not a preset; choose from {', '.join(preset_names())}")
        return text
    found = _settings()[path]
    value = found.parse(text, list_separator=LIST_JOIN)
    if found.choices and value not in found.choices:
        raise ValueError(f"{text!r} is not one of {', '.join(found.choices)}")
    problem = found.problem(value)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    return value


def parse_axes(grid: Iterable[str] = (), render: Iterable[str] = ()) -> list[Axis]:
    """Axes from `field=v1,v2` words (`grid`: training or `render.` fields; `render`: render fields
    without the prefix). One `ConfigError` lists every problem."""
    problems: list[tuple[str, str]] = []
    axes: list[Axis] = []
    words = [(word, "") for word in grid] + [(word, RENDER) for word in render]
    for word, prefix in words:
        name, sep, text = word.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append((word or "(empty)", "write an axis as field=value1,value2,..."))
            continue
        path = name if name.startswith(RENDER) or not prefix else prefix + name
        if path != PRESET and path not in _settings():
            problems.append((path, _unknown(path)))
            continue
        if any(axis.path == path for axis in axes):
            problems.append((path, "given twice; put all its values in one axis"))
            continue
        pieces = [piece.strip() for piece in text.split(",")]
        if not any(pieces):
            problems.append((path, "no values given"))
            continue
        values, bad = [], False
        for piece in pieces:
            try:
                value = _typed(path, piece)
            except ValueError as error:
                problems.append((path, str(error)))
                bad = True
                continue
            if value in values:
                problems.append((path, f"value {piece!r} given twice"))
                bad = True
            values.append(value)
        if not bad:
            axes.append(Axis(path, tuple(values)))
    if problems:
        raise ConfigError(problems, "sweep axes")
    return axes


def point_count(axes: list[Axis], random_draws: int = 0) -> int:
    """Points the sweep runs: the grid's size, or `random_draws` of them (at most the grid)."""
    total = math.prod(len(axis.values) for axis in axes) if axes else 0
    return min(total, random_draws) if random_draws else total


def _point(axes: list[Axis], index: int) -> dict[str, Any]:
    """Point `index` of the grid (mixed radix, the last axis fastest, like itertools.product)."""
    values: dict[str, Any] = {}
    for axis in reversed(axes):
        index, digit = divmod(index, len(axis.values))
        values[axis.path] = axis.values[digit]
    return {axis.path: values[axis.path] for axis in axes}


def expand(axes: list[Axis], random_draws: int = 0, seed: int = 0) -> list[dict[str, Any]]:
    """The points ({path: value}): the whole grid in order, or `random_draws` distinct points
    drawn (seeded) from it and kept in grid order."""
    total = math.prod(len(axis.values) for axis in axes) if axes else 0
    if random_draws and random_draws < total:
        indices = sorted(random.Random(seed).sample(range(total), random_draws))
    else:
        indices = list(range(total))
    return [_point(axes, index) for index in indices]


def label(values: dict[str, Any]) -> str:
    """`lora.rank=8 learning_rate=0.001` (list values joined by `+`)."""
    def shown(value: Any) -> str:
        return LIST_JOIN.join(map(str, value)) if isinstance(value, tuple) else str(value)

    return " ".join(f"{path}={shown(value)}" for path, value in values.items())
