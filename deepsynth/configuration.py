"""Shared machinery for DeepSynth's configuration dataclasses.

Every config is a frozen dataclass whose fields carry a docstring. Validation collects every
problem first and raises one `ConfigError` that names each field (litgpt's "validate everything,
then raise once"). `flat_params` turns a (nested) config into the flat dict MLflow records.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Iterable

from deepsynth.errors import DeepSynthError


class ConfigError(DeepSynthError, ValueError):
    """One or more configuration problems, each tied to the field (or CLI flag) that caused it."""

    def __init__(self, problems: Iterable[tuple[str, str]], what: str = "configuration") -> None:
        self.problems: list[tuple[str, str]] = list(problems)
        self.what = what
        lines = "\n".join(f"  - {field}: {message}" for field, message in self.problems)
        super().__init__(f"invalid {what} ({len(self.problems)} problem(s)):\n{lines}")

    def for_field(self, field: str) -> list[str]:
        """Messages about one field, for showing next to its input widget."""
        return [message for name, message in self.problems if name == field]


class Problems:
    """Collects validation problems; `raise_if_any` raises them all at once."""

    def __init__(self, what: str = "configuration") -> None:
        self.what = what
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append((field, message))

    def check(self, ok: bool, field: str, message: str) -> None:
        if not ok:
            self.add(field, message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items, self.what)


def _scalar(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple, frozenset, set)):
        return ",".join(str(_scalar(v)) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def flat_params(config: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a (nested) dataclass into `{"render.font_size": 20, ...}`: exactly what MLflow logs."""
    flat: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            flat.update(flat_params(value, prefix=f"{key}."))
        else:
            flat[key] = _scalar(value)
    return flat


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a config (tuples become lists, enums their values)."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, (list, tuple, frozenset, set)):
            return [convert(v) for v in value]
        return value

    return convert(config)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (nested) config dataclass from `to_dict` output; unknown keys are an error."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError([(key, "unknown field") for key in unknown], cls.__name__)
    kwargs: dict[str, Any] = {}
    hints = _resolved_hints(cls)
    for name, value in data.items():
        hint = hints.get(name)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _resolved_hints(cls: type) -> dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(cls)
    except Exception:  # forward references that cannot resolve: fall back to no nesting
        return {}
