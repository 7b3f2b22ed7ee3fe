"""Built datasets for the Dataset and Train pages: listing, loading, browsing, page previews."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from deepsynth.configuration import from_dict, to_dict
from deepsynth.data import METADATA_FILE, read_metadata
from deepsynth.errors import InputError
from deepsynth.render import RenderConfig, encode_png, render_document


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset folder and its metadata (counts, warnings, config), read without loading data."""

    path: str
    metadata: dict[str, Any]

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def label(self) -> str:
        counts = self.metadata.get("counts", {})
        return (f"{self.name} · {counts.get('kept', '?')} docs · {self.metadata.get('dataset_config', {}).get('source', '?')}"
                f" · {self.metadata.get('created', '')[:16]}")


@st.cache_data(ttl=5, show_spinner=False)
def list_datasets(folder: str) -> list[DatasetEntry]:
    """DeepSynth datasets directly under `folder`, newest first; unreadable ones are left out."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.is_dir() and not child.name.startswith(".") and (child / METADATA_FILE).is_file():
            try:
                found.append(DatasetEntry(str(child), read_metadata(child)))
            except InputError:
                continue
    return sorted(found, key=lambda d: d.metadata.get("created", ""), reverse=True)


@st.cache_resource(show_spinner=False, max_entries=4)
def load(path: str, created: str) -> Any:
    """The dataset (memory-mapped, shared by sessions); `created` keys a rebuilt folder apart."""
    from deepsynth.data import load_dataset_dir

    return load_dataset_dir(path)


@st.cache_data(show_spinner=False, max_entries=64)
def render_preview(render_json: str, text: str, instruction: str) -> tuple[bytes, int, tuple[str, ...]]:
    """First page of `text` as PNG bytes, the page count and the renderer's warnings."""
    config = from_dict(RenderConfig, json.loads(render_json))
    document = render_document(text, config, instruction=instruction or None)
    return encode_png(document.pages[0]), len(document.pages), tuple(document.warnings)


def render_key(config: RenderConfig) -> str:
    return json.dumps(to_dict(config), sort_keys=True)


def browse(folder: Path) -> None:
    """Pick a built dataset, see its counts and warnings, and page through its examples: the page
    image (with its file, page number and DPI for page files) next to its text, prompt and target."""
    found = list_datasets(str(folder))
    if not found:
        st.info(f"No datasets in {folder} yet: build one in **Build**.")
        st.stop()
    by_path = {entry.path: entry for entry in found}
    chosen = by_path[st.selectbox("Dataset", list(by_path), key="dataset.browse.path",
                                  format_func=lambda p: by_path[p].label)]
    meta = chosen.metadata
    counts = meta.get("counts", {})
    cols = st.columns(4)
    for col, key in zip(cols, ("train", "validation", "test", "pages")):
        col.metric(key.capitalize(), counts.get(key, "—"))
    for warning in meta.get("warnings", []):
        st.warning(warning)
    loaded = load(chosen.path, meta.get("created", ""))
    split = st.radio("Split", [s for s in ("train", "validation", "test") if len(loaded.dataset[s])],
                     horizontal=True, key="dataset.browse.split")
    rows = loaded.dataset[split]
    index = st.number_input(f"Document (0–{len(rows) - 1})", 0, len(rows) - 1, 0,
                            key=f"dataset.browse.index.{chosen.name}.{split}")
    row = rows[int(index)]
    sources = row.get("page_sources") or []  # page files: where each page came from (rendered text: none)
    left, right = st.columns([3, 2])
    if sources:
        page_number = 1
        if len(sources) > 1:
            page_number = int(left.number_input(f"Page (1–{len(sources)})", 1, len(sources), 1,
                                                key=f"dataset.browse.page.{chosen.name}.{split}.{index}"))
        shown = sources[page_number - 1]
        dpi = f"{shown['dpi']} DPI" if shown.get("dpi") else "no DPI stated"
        left.container(border=True).image(row["pages"][page_number - 1], width="stretch", output_format="PNG",
                                          caption=f"{row['id']} · {shown['file']} page {shown['page']} · {dpi}")
    else:
        left.container(border=True).image(row["image"], caption=f"{row['id']} · page 1 of {row['num_pages']}"
                                          + (" · truncated" if row["truncated"] else ""), width="stretch",
                                          output_format="PNG")
    if row.get("prompt"):
        right.markdown("**Prompt**")
        right.text(row["prompt"])
    right.markdown("**Text**" if not sources else "**Text layer**")
    right.text_area("Text", row["text"] or "(no text layer)", height=300, disabled=True, label_visibility="collapsed",
                    key=f"dataset.browse.text.{chosen.name}.{split}.{index}")
    right.markdown("**Target**")
    right.info(row["summary"])
    if row["instruction"]:
        right.caption(f"Instruction: {row['instruction']}")
