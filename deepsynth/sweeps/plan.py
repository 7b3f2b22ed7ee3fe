"""A sweep before anything happens: its points, each point's `TrainConfig`, and every problem.

`plan_sweep` has no side effects: it checks the base dataset, the point count, each render
setting and each point's training config (with the base dataset standing in for the render
datasets, which do not exist yet) and raises one `ConfigError` listing every problem, so a bad
sweep fails before any dataset is built, any run is created or any job is queued.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deepsynth.configuration import ConfigError, from_dict, to_dict
from deepsynth.errors import InputError
from deepsynth.sweeps.grid import PRESET, RENDER, Axis, expand, label, point_count

MAX_POINTS_WITHOUT_YES = 200
"""More points than this need an explicit yes (`--yes`): a typo in a grid can multiply it."""
MAX_POINTS = 2000
"""Refused even with yes: the queue and the sweep record hold every point."""


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep, ready to start."""

    base: Any
    """The base `TrainConfig`."""
    axes: tuple[Axis, ...]
    """The swept fields and their values."""
    points: tuple[dict[str, Any], ...]
    """{path: value} per point, in grid order."""
    random_draws: int
    """0: the whole grid; else this many random points."""
    seed: int
    """Seed of the random draw."""
    renders: tuple[Any, ...]
    """The distinct `RenderConfig`s the points use (empty when no render field is swept)."""

    @property
    def count(self) -> int:
        return len(self.points)

    def describe(self, limit: int = 20) -> str:
        """A few lines for a confirmation prompt: the axes, the count, the first points."""
        grid = " x ".join(f"{axis.path} ({len(axis.values)})" for axis in self.axes)
        drawn = f", {self.random_draws} drawn at random (seed {self.seed})" if self.random_draws else ""
        lines = [f"{self.count} point(s): {grid}{drawn}"]
        if self.renders:
            lines.append(f"{len(self.renders)} render setting(s): one dataset each, from the documents of "
                         f"{self.base.dataset}")
        lines += [f"  {i + 1:>4}. {label(point)}" for i, point in enumerate(self.points[:limit])]
        if self.count > limit:
            lines.append(f"  ... and {self.count - limit} more")
        return "\n".join(lines)


def render_values(values: dict[str, Any]) -> dict[str, Any]:
    """The render part of a point, without the `render.` prefix."""
    return {path[len(RENDER):]: value for path, value in values.items() if path.startswith(RENDER)}


def run_name(sweep_id: str, index: int, values: dict[str, Any]) -> str:
    """`lora.rank=8 learning_rate=0.001 (sweep-...#3)`: printable, no path separators, <= 250."""
    suffix = f" ({sweep_id}#{index + 1})"
    text = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in label(values))
    return text[: 250 - len(suffix)] + suffix


def point_config(base: Any, values: dict[str, Any], dataset: str, sweep_id: str, index: int) -> Any:
    """The `TrainConfig` of one point: the base, the point's training values, its dataset."""
    from deepsynth.lora import preset
    from deepsynth.training.config import TrainConfig

    data = to_dict(base)
    if PRESET in values:  # the preset's LoRA values first; lora.* axes then apply on top
        data["preset"] = values[PRESET]
        data["lora"] = to_dict(preset(values[PRESET]))
    for path, value in values.items():
        if path == PRESET or path.startswith(RENDER):
            continue
        node = data
        *parents, name = path.split(".")
        for parent in parents:
            node = node[parent]
        node[name] = list(value) if isinstance(value, (tuple, list)) else value
    data.update(dataset=dataset, sweep_id=sweep_id, run_name=run_name(sweep_id, index, values))
    return from_dict(TrainConfig, json.loads(json.dumps(data)))


def plan_sweep(base: Any, axes: list[Axis], random_draws: int = 0, seed: int = 0,
               allow_large: bool = False) -> SweepPlan:
    """Check everything about a sweep of `base` over `axes`; raise one `ConfigError` (or an
    `InputError` for a missing base dataset) before anything is built or queued."""
    from deepsynth.sweeps.render_data import base_dataset_config, render_config

    if not axes:
        raise ConfigError([("--grid", "the grid is empty: give at least one field=value1,value2,...")], "sweep")
    if random_draws < 0:
        raise ConfigError([("--random", f"must be >= 0, got {random_draws}")], "sweep")
    count = point_count(axes, random_draws)
    if count > MAX_POINTS:
        raise ConfigError([("--grid", f"{count} points is more than the {MAX_POINTS} a sweep may have; "
                                      "use --random N to draw some of them")], "sweep")
    if count > MAX_POINTS_WITHOUT_YES and not allow_large:
        raise ConfigError([("--grid", f"{count} points is more than {MAX_POINTS_WITHOUT_YES}: pass --yes if you "
                                      "mean it, or --random N to draw some of them")], "sweep")
    try:
        dataset_config = base_dataset_config(base.dataset)
    except InputError as error:
        raise InputError(f"the sweep's base dataset: {error}") from None
    points = expand(axes, random_draws, seed)
    problems: list[tuple[str, str]] = []
    renders: list[Any] = []
    if any(axis.is_render for axis in axes):
        for point in points:
            try:
                render = render_config(dataset_config.render, render_values(point))
            except ConfigError as error:
                problems += [p for p in error.problems if p not in problems]
                continue
            if render not in renders:
                renders.append(render)
    for index, point in enumerate(points):
        try:
            point_config(base, point, base.dataset, "planned", index)
        except ConfigError as error:
            problems += [p for p in error.problems if p not in problems]
    if problems:
        raise ConfigError(problems, "sweep points")
    return SweepPlan(base, tuple(axes), tuple(points), random_draws, seed, tuple(renders))
