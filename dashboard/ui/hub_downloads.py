"""Models named by hub id (`ORG/NAME[@REVISION]`) on the dashboard's pages: read from this machine's
Hugging Face cache; fetched, with a progress bar, only when an admin has turned on **Allow model
downloads** (`ui.settings`). Off, every page that would fetch one shows the same message: what is
missing, that an admin can allow downloads, and the `hf download` command."""

from __future__ import annotations

import threading
from typing import Any, Iterable

import streamlit as st

from deepsynth import hub_models
from deepsynth.errors import DeepSynthError
from ui import settings
from ui.widgets import human_bytes

PROGRESS_EVERY_S = 0.25
"""How often the progress bar is moved while a download runs."""
DOWNLOADED_KEY = "hub_downloads.downloaded"
"""The model this session just downloaded (said once on the next run)."""


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
    Returns whether its files are in the cache now. Call only when downloads are allowed.

    huggingface_hub reports progress from its own worker threads, which may not draw on the page:
    the download runs in a thread of its own, and this script's thread moves the bar from what
    those threads last heard."""
    bar = container.progress(0.0, text=f"Downloading {name}…")
    heard = {"done": 0, "total": 0}
    outcome: dict[str, BaseException] = {}

    def fetch() -> None:
        try:
            hub_models.model_files(name, progress=lambda done, total: heard.update(done=done, total=total))
        except BaseException as error:  # noqa: BLE001 -- handed to the script's thread below
            outcome["error"] = error

    worker = threading.Thread(target=fetch, name=f"deepsynth-download-{name}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=PROGRESS_EVERY_S)
        done, total = heard["done"], heard["total"]
        if total:
            bar.progress(min(1.0, done / total),
                         text=f"Downloading {name}: {human_bytes(done)} of {human_bytes(total)}")
    error = outcome.get("error")
    if isinstance(error, DeepSynthError):
        bar.empty()
        container.error(str(error))
        return False
    if error is not None:
        raise error
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
        if st.session_state.get(DOWNLOADED_KEY) == name:  # once, after the run that downloaded it
            st.session_state.pop(DOWNLOADED_KEY)
            button_area.success(f"Downloaded {name} into the Hugging Face cache.", icon=":material/download_done:")
        return True
    if not settings.downloads_allowed():
        st.error(refusal(name))
        return False
    if button_area.button(f"Download {name}", key=key) and download(name, button_area):
        st.session_state[DOWNLOADED_KEY] = name
        st.rerun()  # the page again, without the button, reading the files now here
    if hub_models.download_needed(name):  # not yet: nothing is read until its files are here
        st.info(f"{name} is not in your Hugging Face cache yet: download it {purpose}.")
        return False
    return True
