"""Widgets generated from a config dataclass: one per field, so a new field appears on the page
without a page edit.

Each field becomes a widget keyed `<prefix>.<dotted path>` (`train.cfg.lora.rank`): a checkbox for
a bool, a number input for an int or float, a select box for a `choice(...)` field, a text input
for other strings and for tuples (comma-separated). Help comes from the field's docstring
(`field_docs`), the default from the dataclass (`default_of`). `config_value()` and `nested()` read them back as the
nested dict `from_dict` builds the config from, so problems come back named by dotted path.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Iterable

import streamlit as st

from deepsynth.configuration import default_of, field_choices, field_docs


@dataclass(frozen=True)
class FormField:
    """One config field as a form widget."""

    path: str
    """Dotted path in the top config (`lora.rank`)."""
    kind: Any
    """bool, int, float, str or tuple."""
    default: Any
    """The dataclass default."""
    choices: tuple[str, ...] | None
    """Allowed values (`choice(...)`), shown as a select box."""
    help: str
    """The field's docstring."""

    @property
    def label(self) -> str:
        return self.path.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def _kind(hint: Any) -> Any:
    if typing.get_origin(hint) is tuple:
        return tuple
    return hint if hint in (bool, int, float, str) else str


def form_fields(cls: type, prefix: str = "") -> list[FormField]:
    """Every leaf field of `cls` (nested config dataclasses opened up), in declaration order."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    found = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        path = f"{prefix}{field.name}"
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            found += form_fields(hint, f"{path}.")
            continue
        try:
            default = default_of(cls, field.name)
        except ValueError:  # a required field (the dataset): the page draws its own widget
            default = None
        found.append(FormField(path, _kind(hint), default, field_choices(field), docs.get(field.name, "")))
    return found


def widget_value(field: FormField, value: Any) -> Any:
    """A config value as its widget holds it (tuples as `a, b`, floats as floats)."""
    if field.kind is tuple:
        return ", ".join(map(str, value or ()))
    if field.kind is float and value is not None and not isinstance(value, bool):
        return float(value)
    return value


def config_value(field: FormField, value: Any) -> Any:
    """A widget's value as the config takes it (`a, b` -> ["a", "b"])."""
    if field.kind is tuple:
        return [part.strip() for part in str(value or "").split(",") if part.strip()]
    if field.kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number_format(field: FormField) -> str | None:
    if field.kind is float and isinstance(field.default, float) and 0 < abs(field.default) < 1e-2:
        return "%.2e"
    return None


def _number(value: Any, kind: type, missing: Any) -> Any:
    """`value` as a number input's `kind` (int or float); `missing` for anything else (None, text)."""
    return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else missing


def draw(field: FormField, key: str, container: Any = st, label: str | None = None,
         disabled: bool = False, allow_empty: bool = False, placeholder: str | None = None,
         format_choice: Any = None) -> Any:
    """The widget for `field` under `key` (its value comes from session state, set beforehand);
    `allow_empty`: a number input that may be left empty (None); `format_choice`: how a choice reads.

    The session's value is also passed as the widget's own default. A value set through session
    state reaches the browser once (a one-shot `set_value`); a browser that mounts the widget
    without it (seen after a reload on a loaded machine: the plan said 37 steps, the field 0)
    shows the widget's default. With the key as the widget's identity, the default never resets a
    value the user typed."""
    label = label or field.label
    common = dict(key=key, help=field.help or None, disabled=disabled)
    current = st.session_state.get(key, widget_value(field, field.default))
    if field.kind is bool:
        return container.checkbox(label, value=bool(current), **common)
    if field.choices:
        options = list(field.choices)
        index = options.index(current) if current in options else 0
        return container.selectbox(label, options, index=index, format_func=format_choice or str, **common)
    if field.kind is int:  # allow_empty: value None, the field may be cleared (None = automatic)
        value = _number(current, int, None if allow_empty else 0)
        return container.number_input(label, value=value, step=1, placeholder=placeholder if allow_empty else None,
                                      **common)
    if field.kind is float:
        step = 1e-4 if _number_format(field) else 0.05 if isinstance(field.default, float) and field.default < 1 else 1.0
        return container.number_input(label, value=_number(current, float, 0.0), step=step,
                                      format=_number_format(field), **common)
    return container.text_input(label, value="" if current is None else str(current), placeholder=placeholder,
                                **common)


def defaults(fields: Iterable[FormField], prefix: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """{widget key: widget value} of each field's default (or of `values`, by dotted path)."""
    values = values or {}
    return {f"{prefix}.{field.path}": widget_value(field, values.get(field.path, field.default)) for field in fields}


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """{"lora.rank": 8} -> {"lora": {"rank": 8}}."""
    data: dict[str, Any] = {}
    for path, value in flat.items():
        node = data
        *parents, name = path.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[name] = value
    return data
