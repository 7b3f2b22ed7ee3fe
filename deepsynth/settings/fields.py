"""One description of every setting, read from the config dataclasses.

A config field is a setting: its type and default come from the dataclass, its help from the
docstring under it, and everything else from declarative metadata written with `setting(...)`
(or `choice(...)`, a setting with choices):

    rank: int = setting(16, minimum=1, maximum=4096, group="LoRA adapter", order=1)
    trust_remote_code: bool = setting(False, sources=FLAG_ONLY)

`settings_of(TrainConfig)` opens nested configs up and returns one `Setting` per leaf field, in
the order a form shows them. The same records build the command-line flags
(`deepsynth.config_flags`), parse sweep values (`sweeps.grid`), check values that come from a
settings file, a queue entry or a dashboard form (`deepsynth.settings.sources`) and generate the
dashboard's forms (`dashboard/ui/config_form.py`). Nothing here imports torch or streamlit.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import reprlib
import typing
from typing import Any, Iterable

AUTO = "auto"
"""The value of a setting whose number the run works out itself (`auto=True`, e.g. warm-up)."""

# Where a value may come from.
FLAG = "flag"
"""A command-line flag typed by the person running the command, at that moment."""
FILE = "file"
"""A settings file: `--config FILE`, a job folder's or a run folder's train_config.json."""
QUEUE = "queue"
"""An entry of the job queue (queue.json), started later by the queue runner."""
FORM = "form"
"""A dashboard form (any signed-in user of a shared dashboard)."""
ANYWHERE = frozenset({FLAG, FILE, QUEUE, FORM})
FLAG_ONLY = frozenset({FLAG})
SOURCE_WORDS = {FLAG: "a command-line flag", FILE: "a settings file", QUEUE: "a queue entry",
                FORM: "a dashboard form"}

# Places a value names, checked when it did not come from a flag (`deepsynth.settings.sources`).
WORKSPACE_PATH = "workspace_path"
"""A folder that must lie inside the workspace unless the user typed it as a flag."""
TRACKING_URI = "tracking_uri"
"""An MLflow store that must be one the user allowed unless they typed it as a flag."""

TEXT_LIMIT = 4096
"""Longest text any setting takes when it declares no `max_length` of its own."""
ITEMS_LIMIT = 256
"""Most items a list setting takes when it declares no `max_items` of its own."""
SHOWN_LIMIT = 80
"""Characters of a value echoed in a message (`shown`): a 50 MB value is not printed whole."""

_METADATA_KEY = "deepsynth.setting"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, SHOWN_LIMIT, SHOWN_LIMIT
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6


def shown(value: Any) -> str:
    """`repr(value)` cut short (a 50 MB text, a list of millions, an object nested 100 000 deep),
    saying how long the whole was."""
    text = _SHORT.repr(value)
    if isinstance(value, str) and len(value) > SHOWN_LIMIT:
        return f"{text} ({len(value)} characters)"
    if isinstance(value, (list, tuple, dict)) and len(value) > _SHORT.maxlist:
        return f"{text} ({len(value)} items)"
    return text


@dataclasses.dataclass(frozen=True)
class Hints:
    """What a field declares beyond its type and default (`setting(...)`)."""

    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    max_items: int | None = None
    group: str | None = None
    order: int | None = None
    advanced: bool | None = None
    sources: frozenset[str] = ANYWHERE
    auto: bool = False
    place: str | None = None
    label: str | None = None


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            choices: Iterable[str] | None = None, minimum: float | None = None, maximum: float | None = None,
            max_length: int | None = None, max_items: int | None = None, group: str | None = None,
            order: int | None = None, advanced: bool | None = None, sources: Iterable[str] = ANYWHERE,
            auto: bool = False, place: str | None = None, label: str | None = None) -> Any:
    """A dataclass field with its setting hints.

    `choices`: the allowed values (a module constant: one definition); `minimum`/`maximum`: a
    number's bounds; `max_length`: a text's characters (a list's, per item); `max_items`: a list's
    length; `group`/`order`/`advanced`: where a generated form shows it (a nested config's `group`
    and `advanced` are its fields' unless they declare their own; `order` sorts within the form,
    undeclared fields after the declared ones in declaration order); `sources`: where the value may come from
    (`FLAG_ONLY`: never from a file, a queue entry or a form); `auto`: the value may be `"auto"`,
    worked out by the run (`training.config.resolve_automatic`); `place`: a path or URI checked
    when it did not come from a flag (`WORKSPACE_PATH`, `TRACKING_URI`); `label`: the form's label."""
    hints = Hints(tuple(choices) if choices is not None else None, minimum, maximum, max_length, max_items,
                  group, order, advanced, frozenset(sources), auto, place, label)
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={_METADATA_KEY: hints, "choices": hints.choices})


def hints_of(field: dataclasses.Field) -> Hints:
    hints = field.metadata.get(_METADATA_KEY)
    if hints is None and field.metadata.get("choices"):
        return Hints(choices=tuple(field.metadata["choices"]))
    return hints or Hints()


@dataclasses.dataclass(frozen=True)
class Setting:
    """One leaf field of a config: everything the CLI, the forms, sweeps and file checks need."""

    path: str
    """Dotted path in the top config (`lora.rank`)."""
    kind: Any
    """bool, int, float, str or tuple (of str)."""
    default: Any
    """The dataclass default (None for a required field)."""
    required: bool
    """No default: the caller gives it (the dataset)."""
    choices: tuple[str, ...] | None
    """Allowed values."""
    help: str
    """The field's docstring."""
    hints: Hints
    """Bounds, display hints and sources (`setting(...)`)."""
    group: str
    """Form group (the nested config's group, else ""), for display."""
    advanced: bool
    """Shown under "more settings" (declared, or the nested config's)."""
    order: tuple[int, int]
    """(declared order or 1000, declaration index): how a form sorts the group's fields."""

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def label(self) -> str:
        return self.hints.label or self.name.replace("_", " ").capitalize()

    @property
    def option(self) -> str:
        """The flag derived from the field name (`--trust-remote-code`)."""
        return "--" + self.name.replace("_", "-")

    @property
    def auto(self) -> bool:
        return self.hints.auto

    @property
    def sources(self) -> frozenset[str]:
        return self.hints.sources

    def allows(self, source: str) -> bool:
        return source in self.hints.sources

    # -- text -> value (flags, sweep axes) -----------------------------------------------------
    def parse(self, text: str, list_separator: str = ",") -> Any:
        """`text` as this setting's value; ValueError saying why not (choices and bounds are
        checked by `problem`, so a flag's every problem is reported at once)."""
        text = text.strip()
        if self.auto and text == AUTO:
            return AUTO
        if self.kind is bool:
            lowered = text.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(f"{shown(text)} is not on/off (true/false)")
        if self.kind is int:
            try:
                return int(text)
            except ValueError:
                word = " or 'auto'" if self.auto else ""
                raise ValueError(f"{shown(text)} is not an integer{word}") from None
        if self.kind is float:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{shown(text)} is not a number") from None
            if not math.isfinite(value):
                raise ValueError(f"{shown(text)} is not a finite number")
            return value
        if self.kind is tuple:
            return tuple(part.strip() for part in text.split(list_separator) if part.strip())
        return text

    # -- value checks (every source) -----------------------------------------------------------
    def problem(self, value: Any) -> str | None:
        """Why `value` (as JSON or a flag gives it) does not fit this setting's type and bounds,
        or None. Messages echo the value cut short."""
        if self.auto and value == AUTO:
            return None
        if self.kind is bool:
            return None if isinstance(value, bool) else f"must be true or false, got {shown(value)}"
        if self.kind in (int, float):
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if self.kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
                if not (is_number and float(value).is_integer()):
                    word = " or 'auto'" if self.auto else ""
                    return f"must be an integer{word}, got {shown(value)}"
            if not is_number:
                return f"must be a number, got {shown(value)}"
            if not math.isfinite(value):
                return f"must be a finite number, got {shown(value)}"
            what = "an integer" if self.kind is int else "a number"
            if self.hints.minimum is not None and value < self.hints.minimum:
                return f"must be {what} >= {_number(self.hints.minimum)}, got {shown(value)}"
            if self.hints.maximum is not None and value > self.hints.maximum:
                return f"must be {what} <= {_number(self.hints.maximum)}, got {shown(value)}"
            return None
        if self.kind is tuple:
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                return f"must be a list of names, got {shown(value)}"
            most = self.hints.max_items or ITEMS_LIMIT
            if len(value) > most:
                return f"takes at most {most} items, got {len(value)}"
            longest = self.hints.max_length or TEXT_LIMIT
            for item in value:
                if not isinstance(item, str):
                    return f"must be a list of names, got an item {shown(item)}"
                if len(item) > longest:
                    return f"items take at most {longest} characters, got {shown(item)}"
            return None
        if not isinstance(value, str):
            return f"must be text, got {shown(value)}"
        longest = self.hints.max_length or TEXT_LIMIT
        if len(value) > longest:
            return f"takes at most {longest} characters, got {shown(value)}"
        return None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _kind(hint: Any) -> Any:
    if typing.get_origin(hint) is tuple:
        return tuple
    if hint in (int, float, str, bool):
        return hint
    arguments = [a for a in typing.get_args(hint) if a is not str and a is not type(None)]
    if len(arguments) == 1 and arguments[0] in (int, float, bool):  # `int | str` for an `auto` number
        return arguments[0]
    return str


def _default(field: dataclasses.Field) -> tuple[Any, bool]:
    if field.default is not dataclasses.MISSING:
        return field.default, False
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory(), False
    return None, True


def is_config(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def settings_of(cls: type, skip: Iterable[str] = ()) -> list[Setting]:
    """Every leaf setting of `cls` (nested configs opened up), in declaration order; `skip`:
    dotted paths (a nested config's path skips all of it)."""
    return [s for s in _settings(cls) if not any(s.path == p or s.path.startswith(p + ".") for p in skip)]


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal right after it in the class body), whitespace
    collapsed: the help text of the field's flag and the dashboard's tooltips."""
    return dict(_field_docs(cls))


@functools.lru_cache(maxsize=None)
def _field_docs(cls: type) -> tuple[tuple[str, str], ...]:
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return ()
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = []
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs.append((node.target.id, " ".join(following.value.value.split())))
    return tuple(docs)


@functools.lru_cache(maxsize=None)
def _settings(cls: type) -> tuple[Setting, ...]:
    return tuple(_collect(cls, "", "", False, [0]))


def _collect(cls: type, prefix: str, group: str, advanced: bool, counter: list[int]) -> list[Setting]:
    hints_by_name = typing.get_type_hints(cls)
    docs = field_docs(cls)
    found: list[Setting] = []
    for field in dataclasses.fields(cls):
        hint = hints_by_name[field.name]
        hints = hints_of(field)
        path = f"{prefix}{field.name}"
        if is_config(hint):
            found += _collect(hint, f"{path}.", hints.group if hints.group is not None else group,
                              hints.advanced if hints.advanced is not None else advanced, counter)
            continue
        default, required = _default(field)
        counter[0] += 1
        order = (hints.order if hints.order is not None else 1000, counter[0])
        found.append(Setting(path, _kind(hint), default, required, hints.choices, docs.get(field.name, ""),
                             hints, hints.group if hints.group is not None else group,
                             hints.advanced if hints.advanced is not None else advanced, order))
    return found


def setting_at(cls: type, path: str) -> Setting:
    """The setting at a dotted path; KeyError when there is none."""
    for found in _settings(cls):
        if found.path == path:
            return found
    raise KeyError(path)


def groups(settings: Iterable[Setting]) -> list[tuple[str, list[Setting]]]:
    """[(group, its settings sorted by order)], groups in the order their first setting appears."""
    by_group: dict[str, list[Setting]] = {}
    for found in settings:
        by_group.setdefault(found.group, []).append(found)
    return [(name, sorted(members, key=lambda s: s.order)) for name, members in by_group.items()]
