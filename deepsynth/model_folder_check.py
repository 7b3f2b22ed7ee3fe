"""Checking the model folders a run names before anything is built or recorded.

`ModelConfig.name` (the base) and `ModelConfig.text_encoder` may be local folders. Two kinds of
folder used to fail deep inside transformers, with a traceback and a FAILED MLflow run left behind:
- a folder whose own Python code transformers would import: an `auto_map` in `config.json`, or in
  the tokenizer's or processor's config (`tokenizer_config.json`, `processor_config.json`, ...).
  The base may use its code only with the user's `--trust-remote-code`; a text encoder never does;
- a folder with symbolic links that lead out of it (`weights.safetensors -> /home/x/secret`): DeepSynth
  reads a model's files, not whatever a link in someone's folder points at. A Hugging Face cache
  snapshot (`models--ORG--NAME/snapshots/REV/`) links into its own `blobs/`: that is inside.
`check_model_folders` runs at the start of `train`, `estimate` and `infer`, before any run, job
output or model exists, and raises one `InputError` listing every problem, each named by the flag
(or card field) the value came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from deepsynth.errors import InputError

CODE_MAP_FILES = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json",
                  "feature_extractor_config.json", "image_processor_config.json", "video_preprocessor_config.json")
"""The files in which transformers looks for an `auto_map` (a class of the folder's own code)."""
MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""Larger JSON configs are not read (a tokenizer_config.json with a vocabulary is a few MB)."""
MAX_ENTRIES = 20_000
"""Most files and folders walked in one model folder (a sharded model has a few hundred)."""
BUILT_IN = {"name": ("default", "tiny"), "text_encoder": ("none", "minilm", "tiny")}


def _code_maps(folder: Path) -> list[str]:
    """The config files in `folder` that hold an auto_map."""
    found = []
    for name in CODE_MAP_FILES:
        path = folder / name
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # unreadable configs are the loader's error to report
        mapping = data.get("auto_map") if isinstance(data, dict) else None
        if mapping:
            found.append(name)
    return found


def _inside_root(folder: Path) -> Path:
    """What links may point into: the folder, or for a hub cache snapshot its repository cache."""
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent
    return folder


def _links_out(folder: Path) -> list[str]:
    """'relative/path -> target' for each symlink under `folder` that resolves outside it."""
    root = _inside_root(folder)
    escaping, seen = [], 0
    for current, folders, files in os.walk(folder, followlinks=False):
        for name in folders + files:
            seen += 1
            if seen > MAX_ENTRIES:
                return escaping + [f"(more than {MAX_ENTRIES:,} entries: not a model folder?)"]
            path = Path(current) / name
            if not path.is_symlink():
                continue
            target = Path(os.path.realpath(path))
            if target != root and root not in target.parents:
                escaping.append(f"{path.relative_to(folder)} -> {os.readlink(path)}")
    return escaping


def folder_problems(value: str, flag: str, may_run_code: bool, code_advice: str) -> list[str]:
    """Every problem of the model folder `value` (named by `flag`); a value that is no folder (a
    built-in name, a hub id, a file) has none here: its loader says what is wrong with it."""
    path = Path(value).expanduser()
    if not path.is_dir():  # a hub id, a built-in name, or a file (estimate reads a config.json)
        return []
    folder = Path(os.path.realpath(path))  # the folder itself may be a link (workspace/models/NAME)
    problems = []
    maps = _code_maps(folder)
    if maps and not may_run_code:
        problems.append(f"{flag} {value!r}: the folder runs its own Python code (auto_map in {', '.join(maps)}); "
                        f"{code_advice}")
    links = _links_out(folder)
    if links:
        shown = ", ".join(links[:5]) + (f" and {len(links) - 5} more" if len(links) > 5 else "")
        problems.append(f"{flag} {value!r}: symbolic link(s) lead out of the folder ({shown}); DeepSynth reads "
                        "only a model folder's own files: copy the files in instead of linking them")
    return problems


def check_model_folders(model_config: Any, flags: Mapping[str, str] | None = None) -> None:
    """Refuse (one `InputError`, every problem) the local folders of `model_config` (a
    `ModelConfig` or its dict) that would run their own code or read outside themselves.
    `flags`: what to call `name` and `text_encoder` in messages (default `--model`, `--text-encoder`)."""
    fields = model_config if isinstance(model_config, Mapping) else vars(model_config)
    names = {"name": "--model", "text_encoder": "--text-encoder", **dict(flags or {})}
    problems = []
    base = str(fields.get("name", "default"))
    if base not in BUILT_IN["name"]:
        problems += folder_problems(
            base, names["name"], bool(fields.get("trust_remote_code", False)),
            "DeepSynth runs it only with --trust-remote-code, which only you can give (an adapter's "
            "deepsynth_model.json never turns it on): add it only if you trust that folder")
    encoder = str(fields.get("text_encoder", "none"))
    if encoder not in BUILT_IN["text_encoder"]:
        problems += folder_problems(
            encoder, names["text_encoder"], False,
            "DeepSynth never runs a text encoder's own code: choose an encoder that transformers supports "
            "natively (e.g. minilm)")
    if problems:
        raise InputError("model folder(s) refused before anything started:\n"
                         + "\n".join(f"  - {problem}" for problem in problems))
