"""Models named by hub id (`ORG/NAME[@REVISION]`) on the dashboard's pages: read from this machine's
Hugging Face cache; fetched, with a progress bar, only when an admin has turned on **Allow model
downloads** (`ui.settings`). Off, every page that would fetch one shows the same message: what is
missing, that an admin can allow downloads, and the `hf download` command."""

from __future__ import annotations

from typing import Any, Iterable

import streamlit as st

from deepsynth import hub_models
from deepsynth.errors import DeepSynthError
from ui import settings
from ui.widgets import human_bytes

def refusal(name: str) -> str:
    """What a page says for a hub id the cache lacks while downloads are off: what is missing, the
    admin's switch, and the command that fetches it in a shell."""
    repo, revision = hub_models.split_revision(name)
    holds = "only part of a snapshot (no weights)" if hub_models.cached_snapshot(name) is not None else "no snapshot"
    return (f"**{name}** is not in this machine's Hugging Face cache: `{hub_models.cache_folder()}` holds {holds} "
            f"of '{repo}' at revision '{revision or 'main'}'. This dashboard downloads models only when an admin "
            f"turns on **{settings.DOWNLOADS_LABEL}** (sidebar → Settings); or fetch it in a shell with "
            f"`hf download {repo}{f' --revision {revision}' if revision else ''}`, or name a local folder.")


def missing(names: Iterable[str]) -> list[str]:
    """The hub ids among `names` whose files the cache lacks and that loading would download."""
    return [name for name in dict.fromkeys(names) if hub_models.download_needed(name)]


def download(name: str, container: Any = st) -> bool:
    """Fetch `name` into the cache with a progress bar in `container`; a failure is shown there.
    Returns whether its files are in the cache now. Call only when downloads are allowed."""
    bar = container.progress(0.0, text=f"Downloading {name}…")

    def heard(done: int, total: int) -> None:
        bar.progress(min(1.0, done / total), text=f"Downloading {name}: {human_bytes(done)} of {human_bytes(total)}")

    try:
        hub_models.model_files(name, progress=heard)
    except DeepSynthError as error:
        bar.empty()
        container.error(str(error))
        return False
    bar.progress(1.0, text=f"Downloaded {name} into the Hugging Face cache.")
    return not hub_models.download_needed(name)


def fetch_all(names: Iterable[str], container: Any = st) -> bool:
    """Before a page loads models: each hub id the cache lacks is downloaded (downloads on) or named
    in the refusal (downloads off). Returns whether all of them are in the cache."""
    needed = missing(names)
    if not needed:
        return True
    if not settings.downloads_allowed():
        for name in needed:
            container.error(refusal(name))
        return False
    return all([download(name, container) for name in needed])


def offer(name: str, key: str, purpose: str, button_area: Any = st) -> bool:
    """For a model name typed on a page: True when nothing needs fetching; else a Download button and
    its progress bar in `button_area` (downloads on), or the refusal (off). `purpose`: what the files
    are for ("to see its family")."""
    if not hub_models.download_needed(name):
        return True
    if not settings.downloads_allowed():
        st.error(refusal(name))
        return False
    if button_area.button(f"Download {name}", key=key):
        download(name, button_area)
    if hub_models.download_needed(name):  # not yet: nothing is read until its files are here
        st.info(f"{name} is not in your Hugging Face cache yet: download it {purpose}.")
        return False
    return True
