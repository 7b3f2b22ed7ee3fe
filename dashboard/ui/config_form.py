"""Forms generated from a config dataclass's settings: one widget per field, so a new field
appears on every page without a page edit, and no page draws a setting by hand.

How a page generates a form for any config dataclass (RenderConfig, LoraSettings, the estimate
`Workload`, TrainConfig):

    form = ConfigForm(RenderConfig, "dataset.render", skip=("font",), labels={"mode": "Render mode"})
    memory = FormMemory("dataset")
    memory.restore(form.keys, form.defaults())   # before drawing: remembered values, else defaults
    form.draw(st, errors=errors)                 # its groups in order; `advanced` ones in an expander
    memory.save(form.keys)
    try:
        render = form.build()                    # the RenderConfig, checked as a form's values are
    except ConfigError as error:
        errors.show(error)                       # problems named by dotted path, under their fields

`form.draw(st, paths=[...])` draws chosen fields where the page wants them (the rest later with
`form.draw(st, skip_paths=...)`); `form.set(values)` puts values into the widgets (a dict, or a preset's LoraSettings);
`ConfigForm(..., on_change={"rank": callback, "*": for_the_others})` runs a callback when a field
changes (a preset label that follows the values, alpha that follows rank). `form.values()` reads the widgets back as {dotted path: config value}; `form.build(extra={...})`
adds what the page chose itself (the dataset). What differs between pages is metadata on the
fields (`deepsynth.settings.setting`: group, order, advanced, bounds, label, sources), not code.

Each field becomes a widget keyed `<prefix>.<dotted path>` (`train.cfg.lora.rank`): a checkbox for
a bool, a number input for an int or float (one that may be left empty where the setting takes
`auto`), a select box for a field with choices, a text input for other strings and for lists
(comma-separated). Help comes from the field's docstring, the default from the dataclass. A
setting that forms may not carry (`sources` without FORM: remote code) gets no widget, and
`build` refuses what a form may not set (`deepsynth.settings.sources`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import streamlit as st

from deepsynth.configuration import from_dict
from deepsynth.settings import AUTO, FORM, Setting, groups, settings_of

FormField = Setting
"""One config field as a form widget (`deepsynth.settings.Setting`: path, kind, default, choices,
help, label, group, order, advanced)."""


def form_fields(cls: type, prefix: str = "", skip: Iterable[str] = ()) -> list[Setting]:
    """Every leaf setting of `cls` a form may carry (nested configs opened up), in declaration
    order; `skip`: dotted paths left to the page (or not shown). `prefix` is accepted for callers
    of the earlier signature and must be empty (widget keys carry the prefix)."""
    if prefix:
        raise ValueError("form_fields: widget keys carry the prefix (ConfigForm(cls, prefix)); paths do not")
    return [found for found in settings_of(cls, skip=skip) if found.allows(FORM)]


def widget_value(field: Setting, value: Any) -> Any:
    """A config value as its widget holds it (tuples as `a, b`, floats as floats, `auto` as empty)."""
    if field.auto and value == AUTO:
        return None
    if field.kind is tuple:
        return ", ".join(map(str, value or ()))
    if field.kind is float and value is not None and not isinstance(value, bool):
        return float(value)
    return value


def config_value(field: Setting, value: Any) -> Any:
    """A widget's value as the config takes it (`a, b` -> ["a", "b"], an empty `auto` number -> "auto")."""
    if field.auto and value in (None, ""):
        return AUTO
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


def draw(field: Setting, key: str, container: Any = st, label: str | None = None,
         disabled: bool = False, allow_empty: bool | None = None, placeholder: str | None = None,
         format_choice: Any = None, on_change: Any = None) -> Any:
    """The widget for `field` under `key` (its value comes from session state, set beforehand);
    `allow_empty`: a number input that may be left empty (None; default: where the setting takes
    `auto`, shown as `placeholder`, default "auto"); `format_choice`: how a choice reads.

    The session's value is also passed as the widget's own default. A value set through session
    state reaches the browser once (a one-shot `set_value`); a browser that mounts the widget
    without it (seen after a reload on a loaded machine: the plan said 37 steps, the field 0)
    shows the widget's default. With the key as the widget's identity, the default never resets a
    value the user typed."""
    label = label or field.label
    if allow_empty is None:
        allow_empty = field.auto
    if allow_empty and field.auto and placeholder is None:
        placeholder = AUTO
    common = dict(key=key, help=field.help or None, disabled=disabled, on_change=on_change)
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
    longest = field.hints.max_length if field.kind is str else None
    return container.text_input(label, value="" if current is None else str(current), placeholder=placeholder,
                                max_chars=longest, **common)


def defaults(fields: Iterable[Setting], prefix: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
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


class ConfigForm:
    """The generated form of one config dataclass (see the module docstring for a page's use)."""

    def __init__(self, cls: type, prefix: str, skip: Iterable[str] = (), labels: Mapping[str, str] | None = None,
                 formats: Mapping[str, Any] | None = None, placeholders: Mapping[str, str] | None = None,
                 columns: int = 3, advanced_title: str = "More settings",
                 on_change: Mapping[str, Any] | None = None) -> None:
        self.cls, self.prefix, self.columns, self.advanced_title = cls, prefix, columns, advanced_title
        self.labels, self.formats = dict(labels or {}), dict(formats or {})
        self.placeholders = dict(placeholders or {})
        self.on_change = dict(on_change or {})
        self.fields = form_fields(cls, skip=skip)
        self.by_path = {field.path: field for field in self.fields}

    def key(self, path: str) -> str:
        return f"{self.prefix}.{path}"

    @property
    def keys(self) -> list[str]:
        return [self.key(field.path) for field in self.fields]

    def defaults(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """{widget key: widget value} of each default (or of `values`, by dotted path)."""
        return defaults(self.fields, self.prefix, dict(values or {}))

    def set(self, values: Any, under: str = "") -> None:
        """Put values into the widgets: a {dotted path: config value} dict or a config object
        (`under`: its dotted path in this form's class, e.g. a preset's LoraSettings under
        "lora"). Call before the widgets are drawn, or from a widget's callback."""
        import dataclasses

        prefix = f"{under}." if under else ""
        if dataclasses.is_dataclass(values) and not isinstance(values, type):
            values = {f"{prefix}{found.path}": _at(values, found.path) for found in settings_of(type(values))}
        else:
            values = {f"{prefix}{path}": value for path, value in dict(values).items()}
        for path, value in values.items():
            if path in self.by_path:
                st.session_state[self.key(path)] = widget_value(self.by_path[path], value)

    def draw(self, container: Any = st, paths: Iterable[str] | None = None, skip_paths: Iterable[str] = (),
             errors: Any = None, columns: int | None = None, titles: bool = True) -> None:
        """Widgets for the form's fields (or only `paths`, in that order; minus `skip_paths`),
        `columns` to a row, under their group's title; fields marked `advanced` in one expander
        after the others. `errors` (`ui.widgets.FieldErrors`): a slot under each group."""
        skipped = set(skip_paths)
        if paths is not None:
            chosen = [self.by_path[path] for path in paths if path not in skipped]
            self._grid(chosen, container, columns or self.columns)
            if errors is not None:
                errors.slot(*[field.path for field in chosen])
            return
        shown = [field for field in self.fields if field.path not in skipped]
        basic = [field for field in shown if not field.advanced]
        advanced = [field for field in shown if field.advanced]
        self._groups(basic, container, columns or self.columns, errors, titles)
        if advanced:
            with container.expander(self.advanced_title):
                self._groups(advanced, st, columns or self.columns, errors, titles)

    def _groups(self, fields: list[Setting], container: Any, columns: int, errors: Any, titles: bool) -> None:
        for title, members in groups(fields):
            if title and titles:
                container.markdown(f"**{title}**")
            self._grid(members, container, columns)
            if errors is not None:
                errors.slot(*[field.path for field in members])

    def _grid(self, fields: list[Setting], container: Any, columns: int) -> None:
        if not fields:
            return
        cells = container.columns(columns)
        for index, field in enumerate(fields):
            draw(field, self.key(field.path), cells[index % columns], label=self.labels.get(field.path),
                 on_change=self.on_change.get(field.path, self.on_change.get("*")),
                 placeholder=self.placeholders.get(field.path), format_choice=self.formats.get(field.path))
            if index % columns == columns - 1 and index + 1 < len(fields):
                cells = container.columns(columns)

    def values(self) -> dict[str, Any]:
        """{dotted path: config value} of the widgets as they are now."""
        return {field.path: config_value(field, st.session_state.get(self.key(field.path))) for field in self.fields}

    def build(self, extra: Mapping[str, Any] | None = None, allowed_uris: Iterable[str] = ()) -> Any:
        """The config from the widgets plus `extra` ({dotted path: value} the page chose itself),
        checked as a form's values are (`settings.sources`: no remote code, outputs inside the
        workspace, tracking stores in `allowed_uris` or allowed by the user); `ConfigError` names
        each problem by dotted path."""
        return build(self.cls, {**self.values(), **dict(extra or {})}, allowed_uris)


def build(cls: type, values: Mapping[str, Any], allowed_uris: Iterable[str] = ()) -> Any:
    """`cls` from a form's {dotted path: config value}, checked as a form's values are."""
    return from_dict(cls, nested(dict(values)), source=FORM, allowed_uris=allowed_uris)


def _at(config: Any, path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        node = getattr(node, part)
    return node
