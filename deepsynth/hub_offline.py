"""Loading a hub id from the local Hugging Face cache only, unless the user allows a download.

A base model named by a hub id (`ORG/NAME`) in an adapter's card would make transformers contact
the hub (or a mirror set by `HF_ENDPOINT`) when it loads: a request the card's author chose, not
the user. `hub_offline()` turns the hub client's offline mode on for the duration of one load
(`HF_HUB_OFFLINE`, which huggingface_hub reads once at import, so its module constant is switched
too); `cached_hub_model` says beforehand whether the cache holds the model, so the user gets a
clear message instead of a download. `--allow-download` (the user's own flag) lifts both.
`base_loading` wraps building the base an adapter's card names (inference, `export --merge`).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from deepsynth.errors import InputError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w.-]+)?$")
"""`org/name[@revision]`: what the Hugging Face hub would look up (`hub_models` resolves it)."""
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|\\\\)")


def is_hub_id(value: str) -> bool:
    """Whether a model name would be looked up on the Hugging Face hub (no such local path)."""
    from pathlib import Path

    return (bool(HUB_ID.match(value)) and not value.startswith(".") and not _URL.match(value)
            and not Path(value).expanduser().exists())

ALLOW_DOWNLOAD_FLAG = "--allow-download"


@contextmanager
def hub_offline(active: bool = True) -> Iterator[None]:
    """Within the block, nothing is requested from the Hugging Face hub (when `active`)."""
    if not active:
        yield
        return
    from huggingface_hub import constants

    saved_env = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    saved_constant = constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved_constant
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cached_hub_model(name: str) -> bool:
    """Whether the local Hugging Face cache holds `org/name[@revision]`'s config.json (nothing is requested)."""
    from huggingface_hub import try_to_load_from_cache

    repo_id, _, revision = name.partition("@")
    found = try_to_load_from_cache(repo_id, "config.json", revision=revision or None)
    return isinstance(found, str)


@contextmanager
def base_loading(model_config: Any, where: str, allow_download: bool = False) -> Iterator[None]:
    """Around building the base an adapter card names: its model folders are checked first
    (`model_folder_check`, named as card fields), and a hub-id base is read from the local Hugging
    Face cache only (no request) unless the user allowed a download."""
    from deepsynth.adapter_format.files import MODEL_CARD
    from deepsynth.model_folder_check import check_model_folders

    check_model_folders(model_config, flags={"name": f"{MODEL_CARD} model_config.name",
                                             "text_encoder": f"{MODEL_CARD} model_config.text_encoder"})
    name = str(model_config.get("name", "default") if isinstance(model_config, Mapping) else model_config.name)
    hub = is_hub_id(name)
    if hub and not allow_download and not cached_hub_model(name):
        raise InputError(f"{where}: its base model {name!r} is a Hugging Face hub id that is not in this "
                         f"machine's Hugging Face cache; DeepSynth downloads it only if you add "
                         f"{ALLOW_DOWNLOAD_FLAG} (the adapter's card never makes it contact the hub)")
    with hub_offline(active=hub and not allow_download):
        yield
