"""Command-line flags built from the configuration dataclasses: one definition of each setting.

Every field of a config dataclass (nested configs too) becomes a flag: `learning_rate` becomes
`--learning-rate` (or the verb's shorter name, e.g. `--lr`), with the field's type (int, float,
str, a tuple of str as `a,b,c`, a bool as `--x` / `--no-x`), its choices (`configuration.choice`),
and its docstring and dataclass default as help. The parser's own defaults are `SUPPRESS`, so only
flags the user typed override anything: a changed dataclass default is what the CLI uses, and a
`--config FILE` keeps every value the command line does not name.

    flags = ConfigFlags(TrainConfig, renames={"learning_rate": "--lr"})
    flags.add_to(parser)
    config = flags.build(TrainConfig, flags.typed(parser.parse_args()), base=file_values, source="run.json")

A problem names the flag the user typed (`--rank: must be an integer >= 1`), or the field and the
file when the value came from a `--config` file (`lora.rank (in run.json): ...`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping

from deepsynth.configuration import ConfigError, field_choices, field_docs, from_dict, to_dict

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclasses.dataclass(frozen=True)
class Flag:
    """One config field as a command-line option."""

    path: str
    """Dotted field path in the config (`lora.rank`)."""
    options: tuple[str, ...]
    """Option strings, the preferred first (`--lr`, `--learning-rate`)."""
    kind: Any
    """int, float, str, bool or tuple (of str)."""
    default: Any
    """The dataclass default (shown in the help)."""
    choices: tuple[str, ...] | None
    """Allowed values, from the field's `choice(...)` constant."""
    help: str
    """The field's docstring."""

    @property
    def dest(self) -> str:
        return "config__" + self.path.replace(".", "__")

    @property
    def option(self) -> str:
        return self.options[0]


def _option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _kind(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple
    if hint in (int, float, str, bool):
        return hint
    return str


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected on/off (or true/false), got {text!r}")


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _describe_default(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    if value == "":
        return "empty"
    return str(value)


class ConfigFlags:
    """The flags of one config dataclass and its nested configs."""

    def __init__(self, cls: type, renames: Mapping[str, str] | None = None, skip: Iterable[str] = ()) -> None:
        self.cls = cls
        self.renames = dict(renames or {})
        self.skip = set(skip)
        self.flags: list[Flag] = []
        self._all_paths: set[str] = set()
        self._collect(cls, "")
        seen: dict[str, str] = {}
        for flag in self.flags:
            for option in flag.options:
                if option in seen:
                    raise ValueError(f"{option} would set both {seen[option]} and {flag.path}: rename one")
                seen[option] = flag.path
        unknown = (set(self.renames) | self.skip) - self._all_paths
        if unknown:
            raise ValueError(f"no such config fields: {', '.join(sorted(unknown))}")

    def _collect(self, cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        docs = field_docs(cls)
        for field in dataclasses.fields(cls):
            path = f"{prefix}{field.name}"
            hint = hints[field.name]
            self._all_paths.add(path)
            if path in self.skip:
                continue
            if isinstance(hint, type) and dataclasses.is_dataclass(hint):
                self._collect(hint, f"{path}.")
                continue
            if field.default is not dataclasses.MISSING:
                default = field.default
            elif field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            else:
                default = None
            derived = _option_name(field.name)
            preferred = self.renames.get(path, derived)
            options = (preferred,) if preferred == derived else (preferred, derived)
            self.flags.append(Flag(path, options, _kind(hint), default, field_choices(field), docs.get(field.name, "")))

    # -- argparse ------------------------------------------------------------------------------
    def add_to(self, parser: argparse.ArgumentParser | Any, groups: Mapping[str, str] | None = None) -> None:
        """Add every flag to `parser`; nested configs go into argument groups titled by `groups`
        (path prefix -> title, e.g. {"lora": "LoRA adapter"})."""
        titled = {prefix: parser.add_argument_group(title) for prefix, title in (groups or {}).items()}
        for flag in self.flags:
            prefix = flag.path.rsplit(".", 1)[0] if "." in flag.path else ""
            target = titled.get(prefix, parser)
            default = "required" if flag.default is None else f"default: {_describe_default(flag.default)}"
            help_text = f"{flag.help} ({default})".replace("%", "%%")
            metavar = flag.path.rsplit(".", 1)[-1].upper()
            common = dict(dest=flag.dest, default=argparse.SUPPRESS, help=help_text)
            if flag.kind is bool:
                target.add_argument(*flag.options, nargs="?", const=True, type=_parse_bool, metavar="on|off",
                                    **common)
                negatives = [f"--no-{option[2:]}" for option in flag.options]
                target.add_argument(*negatives, action="store_const", const=False, dest=flag.dest,
                                    default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            elif flag.kind is tuple:
                target.add_argument(*flag.options, type=_parse_list, metavar=f"{metavar}[,...]", **common)
            elif flag.choices:  # checked by the dataclass, so every bad value is reported at once
                target.add_argument(*flag.options, type=flag.kind, metavar="{" + ",".join(flag.choices) + "}",
                                    **common)
            else:
                target.add_argument(*flag.options, type=flag.kind, metavar=metavar, **common)

    def typed(self, namespace: argparse.Namespace) -> dict[str, Any]:
        """{field path: value} for exactly the flags given on the command line."""
        return {flag.path: getattr(namespace, flag.dest) for flag in self.flags if hasattr(namespace, flag.dest)}

    def option_for(self, path: str) -> str | None:
        return next((flag.option for flag in self.flags if flag.path == path), None)

    # -- building the config -------------------------------------------------------------------
    def build(self, values: Mapping[str, Any], base: Mapping[str, Any] | None = None,
              source: str | None = None, what: str = "arguments") -> Any:
        """The config from `base` (a nested dict, e.g. a `--config` file) with `values` (field path
        -> value, e.g. `typed(...)`) on top. One `ConfigError` lists every problem, each named by
        the flag the user typed, or by field and file for values that came from the file."""
        data = json.loads(json.dumps(dict(base or {})))  # a deep copy that is plain JSON
        for path, value in values.items():
            node = data
            *parents, name = path.split(".")
            for parent in parents:
                if not isinstance(node.get(parent), dict):
                    node[parent] = {}
                node = node[parent]
            node[name] = list(value) if isinstance(value, tuple) else value
        try:
            return from_dict(self.cls, data)
        except ConfigError as error:
            raise ConfigError([(self.name_for(field, values, base, source), message)
                               for field, message in error.problems], what) from None

    def name_for(self, path: str, typed: Mapping[str, Any], base: Mapping[str, Any] | None,
                 source: str | None) -> str:
        """How a problem in `path` is named: the flag when the user typed it (or when the value
        is a default), `path (in FILE)` when it came from the file."""
        if path not in typed and source and _in_nested(base or {}, path):
            return f"{path} (in {source})"
        return self.option_for(path) or path


def _in_nested(data: Mapping[str, Any], path: str) -> bool:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def read_config_file(path: str | Path, cls: type) -> dict[str, Any]:
    """A `--config` file's values as a nested dict (checked against `cls` when built). The file is
    JSON, as `--print-config` writes it; a missing or malformed file is a `ConfigError` naming it."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([("--config", f"{file}: no such file")], "arguments") from None
    except UnicodeDecodeError as error:
        raise ConfigError([("--config", f"{file}: not UTF-8 text (byte {error.start})")], "arguments") from None
    except json.JSONDecodeError as error:
        raise ConfigError([("--config", f"{file}, line {error.lineno}, column {error.colno}: {error.msg}")],
                          "arguments") from None
    if not isinstance(data, dict):
        raise ConfigError([("--config", f"{file}: expected a JSON object of {cls.__name__} fields")], "arguments")
    return data


def config_json(config: Any) -> str:
    """The config as the JSON `--print-config` prints and `--config` reads."""
    return json.dumps(to_dict(config), indent=2) + "\n"
