"""Command-line flags built from the settings of the configuration dataclasses (`deepsynth.settings`:
one definition of each setting).

Every setting of a config dataclass (nested configs too) becomes a flag: `learning_rate` becomes
`--learning-rate` (or the verb's shorter name, e.g. `--lr`), with the setting's type (int, float,
str, a tuple of str as `a,b,c`, a bool as `--x` / `--no-x`, `auto` where the setting takes it),
its choices, and its docstring and dataclass default as help; the text is parsed by
`Setting.parse`, as sweep axes are. The parser's own defaults are `SUPPRESS`, so only
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
from pathlib import Path
from typing import Any, Iterable, Mapping

from deepsynth.configuration import ConfigError, from_dict, to_dict
from deepsynth.settings.fields import AUTO, FILE, FLAG, Setting, settings_of, shown

CONFIG_FILE_LIMIT = 1 << 20
"""Largest `--config` file read (1 MiB; `--print-config` writes about 3 KB)."""


@dataclasses.dataclass(frozen=True)
class Flag:
    """One setting as a command-line option."""

    setting: Setting
    """What the flag sets (type, default, choices, bounds, help: `deepsynth.settings`)."""
    options: tuple[str, ...]
    """Option strings, the preferred first (`--lr`, `--learning-rate`)."""

    @property
    def path(self) -> str:
        return self.setting.path

    @property
    def kind(self) -> Any:
        return self.setting.kind

    @property
    def default(self) -> Any:
        return self.setting.default

    @property
    def choices(self) -> tuple[str, ...] | None:
        return self.setting.choices

    @property
    def help(self) -> str:
        return self.setting.help

    @property
    def dest(self) -> str:
        return "config__" + self.path.replace(".", "__")

    @property
    def option(self) -> str:
        return self.options[0]

    def parser(self) -> Any:
        """The argparse `type`: the setting's own text parsing (`Setting.parse`), named like the
        kind so argparse says "invalid int value: 'x'"."""
        def parse(text: str) -> Any:
            try:
                return self.setting.parse(text)
            except ValueError as error:
                if self.kind in (int, float) and not self.setting.auto:
                    raise ValueError(str(error)) from None  # argparse: "invalid int value: 'x'"
                raise argparse.ArgumentTypeError(str(error)) from None

        parse.__name__ = self.kind.__name__ if self.kind in (int, float) else "value"
        return parse


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
        every = settings_of(cls)
        self._all_paths = {found.path for found in every}
        self._all_paths |= {path.rsplit(".", 1)[0] for path in self._all_paths if "." in path}
        self.flags: list[Flag] = []
        for found in settings_of(cls, skip=self.skip):
            if not found.allows(FLAG):  # measured, never typed
                continue
            preferred = self.renames.get(found.path, found.option)
            options = (preferred,) if preferred == found.option else (preferred, found.option)
            self.flags.append(Flag(found, options))
        seen: dict[str, str] = {}
        for flag in self.flags:
            for option in flag.options:
                if option in seen:
                    raise ValueError(f"{option} would set both {seen[option]} and {flag.path}: rename one")
                seen[option] = flag.path
        unknown = (set(self.renames) | self.skip) - self._all_paths
        if unknown:
            raise ValueError(f"no such config fields: {', '.join(sorted(unknown))}")

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
                target.add_argument(*flag.options, nargs="?", const=True, type=flag.parser(), metavar="on|off",
                                    **common)
                negatives = [f"--no-{option[2:]}" for option in flag.options]
                target.add_argument(*negatives, action="store_const", const=False, dest=flag.dest,
                                    default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            elif flag.kind is tuple:
                target.add_argument(*flag.options, type=flag.parser(), metavar=f"{metavar}[,...]", **common)
            elif flag.choices:  # checked by the dataclass, so every bad value is reported at once
                target.add_argument(*flag.options, type=flag.parser(), metavar="{" + ",".join(flag.choices) + "}",
                                    **common)
            else:
                shown_metavar = f"{metavar}|{AUTO}" if flag.setting.auto else metavar
                target.add_argument(*flag.options, type=flag.parser(), metavar=shown_metavar, **common)

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


def read_config_file(path: str | Path, cls: type, given_as_flags: Iterable[str] = ()) -> dict[str, Any]:
    """A `--config` file's values as a nested dict (checked against `cls` when built). The file is
    JSON, as `--print-config` writes it; a missing, oversized, malformed or too deeply nested file
    is a `ConfigError` naming it. A settings file is not the person running the command: values it
    may not carry (remote code, folders outside the workspace, stores not allowed:
    `deepsynth.settings.sources`) are refused, unless a flag (`given_as_flags`: their paths)
    replaces them."""
    from deepsynth.settings.sources import source_problems

    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(CONFIG_FILE_LIMIT + 1)
        if len(raw) > CONFIG_FILE_LIMIT:
            raise ConfigError([("--config", f"{shown(str(file))}: larger than {CONFIG_FILE_LIMIT // 1024} KiB; "
                                            "a config file from --print-config is a few KB")], "arguments")
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError([("--config", f"{shown(str(file))}: no such file")], "arguments") from None
    except IsADirectoryError:
        raise ConfigError([("--config", f"{shown(str(file))}: a folder, not a file")], "arguments") from None
    except UnicodeDecodeError as error:
        raise ConfigError([("--config", f"{file}: not UTF-8 text (byte {error.start})")], "arguments") from None
    except json.JSONDecodeError as error:
        raise ConfigError([("--config", f"{file}, line {error.lineno}, column {error.colno}: {error.msg}")],
                          "arguments") from None
    except RecursionError:
        raise ConfigError([("--config", f"{file}: nested too deeply to be a {cls.__name__}")], "arguments") from None
    if not isinstance(data, dict):
        raise ConfigError([("--config", f"{file}: expected a JSON object of {cls.__name__} fields")], "arguments")
    problems = source_problems(cls, data, FILE, given_as_flags)
    if problems:
        raise ConfigError([(f"{field} (in {file})", message) for field, message in problems], "arguments")
    return data


def config_json(config: Any) -> str:
    """The config as the JSON `--print-config` prints and `--config` reads."""
    return json.dumps(to_dict(config), indent=2) + "\n"
