"""Shared machinery for DeepSynth's configuration dataclasses.

Every config is a frozen dataclass whose fields carry a docstring. Validation collects every
problem first and raises one `ConfigError` that names each field (litgpt's "validate everything,
then raise once"). `flat_params` turns a (nested) config into the flat dict MLflow records.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from typing import Any, Iterable

from deepsynth.errors import DeepSynthError
from deepsynth.settings.fields import field_docs  # noqa: F401  (a field's docstring: the settings' help)


MESSAGE_LIMIT = 1000
"""Longest problem message kept (a value echoed whole could be megabytes: `settings.shown` cuts
values short; this is the backstop)."""


class ConfigError(DeepSynthError, ValueError):
    """One or more configuration problems, each tied to the field (or CLI flag) that caused it."""

    def __init__(self, problems: Iterable[tuple[str, str]], what: str = "configuration") -> None:
        self.problems: list[tuple[str, str]] = list(problems)
        self.problems = [(str(field)[:MESSAGE_LIMIT], str(message)[:MESSAGE_LIMIT]) for field, message in self.problems]
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


def from_dict(cls: type, data: dict[str, Any], source: str | None = None, given_as_flags: Iterable[str] = (),
              allowed_uris: Iterable[str] = ()) -> Any:
    """Rebuild a (nested) config dataclass from `to_dict` output (a JSON file, a form).

    Every problem is collected before raising one `ConfigError`, each named by its dotted path
    (`lora.rank`): unknown keys, values that do not fit their setting's type or bounds
    (`deepsynth.settings`), and what each nested config's own validation says. `source` (a
    settings file, a queue entry, a form: `settings.FILE`, `QUEUE`, `FORM`) also refuses what that
    source may not carry (`settings.sources`); `given_as_flags`: paths a flag set instead."""
    problems: list[tuple[str, str]] = []
    if source is not None:
        from deepsynth.settings.sources import source_problems

        problems = source_problems(cls, data, source, given_as_flags, allowed_uris) if isinstance(data, dict) else []
    config, build_problems, what = _build(cls, data, "")
    problems += [problem for problem in build_problems if problem not in problems]
    if problems:
        raise ConfigError(problems, what)
    return config


def _own_settings(cls: type) -> dict[str, Any]:
    from deepsynth.settings.fields import settings_of

    return {found.path: found for found in settings_of(cls) if "." not in found.path}


def _build(cls: type, data: Any, prefix: str) -> tuple[Any, list[tuple[str, str]], str]:
    """(config or None, problems, what the config is called in messages)."""
    from deepsynth.settings.fields import shown

    what = cls.__name__
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or cls.__name__
        return None, [(where, f"must be an object of {cls.__name__} fields, got {shown(data)}")], what
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(key) for key in set(data) - known)
    problems = [(f"{prefix}{key}"[:200], "unknown field") for key in unknown[:20]]
    if len(unknown) > 20:
        problems.append((prefix.rstrip(".") or cls.__name__, f"{len(unknown) - 20} more unknown fields"))
    hints = _resolved_hints(cls)
    settings = _own_settings(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        hint = hints.get(name)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            child, child_problems, _ = _build(hint, value, f"{prefix}{name}.")
            problems += child_problems
            if child is None:
                continue  # the parent's own fields are still checked, with this one at its default
            value = child
        else:
            setting = settings.get(name)
            problem = setting.problem(value) if setting is not None else None
            if problem:  # reported here; the field stays at its default for the config's own checks
                problems.append((f"{prefix}{name}", problem))
                continue
            if isinstance(value, list):
                value = tuple(value)
            elif setting is not None and setting.kind is int and isinstance(value, float):
                value = int(value)
        kwargs[name] = value
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        return None, problems + [(f"{prefix}{name}", "required") for name in missing], what
    try:
        config = cls(**kwargs)
    except ConfigError as error:
        problems += [(f"{prefix}{field}", message) for field, message in error.problems]
        what = error.what  # the config's own name for itself ("render configuration")
        config = None
    return (config if not problems else None), problems, what


def default_of(cls: type, name: str) -> Any:
    """A field's dataclass default (what a form shows before the user edits it)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise ValueError(f"{cls.__name__}.{name} has no default")


def choice(default: str, options: Iterable[str], **hints: Any) -> Any:
    """A str field whose value is one of `options` (a module constant: one definition), e.g.
    `schedule: str = choice("cosine", SCHEDULES)`; command-line flags and forms offer exactly
    these. `hints`: the other `settings.setting` hints (group, order, advanced, ...)."""
    from deepsynth.settings.fields import setting

    return setting(default, choices=tuple(options), **hints)


def field_choices(field: dataclasses.Field) -> tuple[str, ...] | None:
    return field.metadata.get("choices")




def _resolved_hints(cls: type) -> dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(cls)
    except Exception:  # forward references that cannot resolve: fall back to no nesting
        return {}
