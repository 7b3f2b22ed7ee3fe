"""What a value may do depending on where it came from.

A flag is typed by the person running the command, at that moment: it may name any folder, any
tracking store, and turn remote code on. A settings file (`--config`, a job or run folder's
train_config.json), a queue entry and a dashboard form are not that person: there

- a `FLAG_ONLY` setting (`model.trust_remote_code`) keeps its default: a file that turns it on
  is refused, with the flag to type instead;
- a `WORKSPACE_PATH` (`output_dir`) lies inside the workspace (`DEEPSYNTH_HOME`);
- a `TRACKING_URI` is empty, the workspace's own store, a sqlite or file store inside the
  workspace, `MLFLOW_TRACKING_URI`, one listed in `DEEPSYNTH_ALLOWED_TRACKING_URIS`
  (comma-separated), or one the caller allows (the dashboard's sidebar store).

    problems = source_problems(TrainConfig, data, FILE, given_as_flags={"output_dir"})
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlparse

from deepsynth.settings.fields import (FILE, FLAG, SOURCE_WORDS, TRACKING_URI, WORKSPACE_PATH, Setting,
                                       settings_of, shown)

ALLOWED_TRACKING_URIS_ENV = "DEEPSYNTH_ALLOWED_TRACKING_URIS"
"""Tracking stores (comma-separated URIs) that settings files, queue entries and forms may name."""


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(present, value) of a dotted path in a nested dict."""
    node = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def allowed_tracking_uris(extra: Iterable[str] = ()) -> set[str]:
    from deepsynth import paths

    listed = os.environ.get(ALLOWED_TRACKING_URIS_ENV, "")
    return {uri.strip() for uri in [paths.default_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI", ""),
                                    *listed.split(","), *extra] if uri and uri.strip()}


def allow_typed_tracking_uri(uri: str) -> None:
    """The store the person running this command typed as a flag (`--tracking-uri`) is theirs to
    use: allow it for the queue entries this process writes and the runner it starts (which
    inherits this environment), as an allowed store would be."""
    if not uri or not uri.strip():
        return
    listed = [entry for entry in os.environ.get(ALLOWED_TRACKING_URIS_ENV, "").split(",") if entry.strip()]
    if uri.strip() not in listed:
        os.environ[ALLOWED_TRACKING_URIS_ENV] = ",".join([*listed, uri.strip()])


def _inside_workspace(path: str) -> bool:
    from deepsynth import paths

    try:
        Path(path).resolve().relative_to(paths.home())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _local_store_path(uri: str) -> str | None:
    """The file a sqlite:/// or file: URI points at, else None."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite" and uri.startswith("sqlite:///"):
        return unquote(uri[len("sqlite:///"):].split("?", 1)[0]) or None
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return unquote(parsed.path) or None
    if parsed.scheme == "" and uri:  # a plain folder (MLflow's file store)
        return uri
    return None


def place_problem(found: Setting, value: Any, source: str, allowed_uris: Iterable[str] = ()) -> str | None:
    """Why a path or URI that came from `source` (not a flag) may not be used, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    where = SOURCE_WORDS[source]
    if found.hints.place == WORKSPACE_PATH and not _inside_workspace(value):
        return (f"{shown(value)} is outside the workspace: {where} may only write inside it "
                f"(DEEPSYNTH_HOME); to write elsewhere, type {found.option} yourself")
    if found.hints.place == TRACKING_URI:
        uri = value.strip()
        if uri in allowed_tracking_uris(allowed_uris):
            return None
        local = _local_store_path(uri)
        if local is not None and _inside_workspace(local):
            return None
        return (f"{shown(value)} is not a tracking store you allowed: {where} may name the workspace's "
                f"own store, MLFLOW_TRACKING_URI or one listed in {ALLOWED_TRACKING_URIS_ENV}; "
                f"to use it anyway, type {found.option} yourself")
    return None


def source_problems(cls: type, data: Mapping[str, Any], source: str, given_as_flags: Iterable[str] = (),
                    allowed_uris: Iterable[str] = (), places: bool = True) -> list[tuple[str, str]]:
    """(dotted path, message) for every value in `data` (a nested dict for `cls`) that `source`
    may not carry. `given_as_flags`: paths a flag set on top (the file's value is not used);
    `places=False`: only the flag-only rule (a run folder's own settings, whose folders the user
    chose when the run started)."""
    if source == FLAG:
        return []
    skipped = set(given_as_flags)
    problems: list[tuple[str, str]] = []
    for found in settings_of(cls):
        if found.path in skipped:
            continue
        present, value = lookup(data, found.path)
        if not present:
            continue
        if not found.allows(source) and value != found.default:
            problems.append((found.path, f"{SOURCE_WORDS[source]} cannot set this (got {shown(value)}): only "
                                         f"the person running the command may, by typing {found.option} "
                                         f"(e.g. `deepsynth train --config FILE {found.option}`)"))
            continue
        message = place_problem(found, value, source, allowed_uris) if places else None
        if message:
            problems.append((found.path, message))
    return problems


def user_flags(config: Any) -> list[str]:
    """Flags that carry the values of `config` a settings file may not (remote code, folders
    and stores outside the workspace): what a launcher that writes the config into a file for
    a child process passes on that child's command line, so the user's own choice survives."""
    from deepsynth.settings.fields import is_config

    flags: list[str] = []
    for found in settings_of(type(config)):
        value: Any = config
        for part in found.path.split("."):
            value = getattr(value, part)
        if is_config(type(value)):
            continue
        if not found.allows(FILE) and value != found.default:
            flags += [found.option] if value is True else [found.option, str(value)]
        elif found.hints.place and isinstance(value, str) and value.strip() and place_problem(found, value, FILE):
            flags += [found.option, value]
    return flags


def without_flag_only(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (a nested dict for `cls`, changed in place and returned) with every setting that
    only a flag may set put back to its default: what a settings file we write holds (a launcher
    passes the user's choice on as a flag, `user_flags`)."""
    for found in settings_of(cls):
        if found.allows(FILE):
            continue
        node: Any = data
        *parents, name = found.path.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and name in node:
            node[name] = found.default
    return data
