"""The Dataset page's view of page sources (PDFs, images, manifests, LLaVA JSON): the task picker
with its primary metric, and the first examples as thumbnails with their provenance, text layer,
prompt and target (from `deepsynth.data.page_preview`)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from deepsynth.data import DatasetConfig
from deepsynth.data.page_preview import PageSourcePreview, PreviewExample, PreviewPage, preview_page_source
from deepsynth.evaluation import metrics
from deepsynth.evaluation.metric import direction_words
from deepsynth.evaluation.tasks import CUSTOM, LONG_ANSWER_WORDS, QA, task_metrics

TASK_PATHS = ("task", "prompt", "prompt_column")
"""The dataset form's fields drawn together as the task picker."""
PREVIEW_EXAMPLES = 6
THUMBNAILS_PER_ROW = 4
TEXT_SHOWN = 1500
"""Characters of a text layer or target shown before "…"."""


def primary_metric_line(task: str) -> str:
    """What the task is scored by, in one line for beside the picker."""
    if task == QA:
        return (f"Primary metric: {metrics.label('anls')} (higher is better) for short answers, "
                f"{metrics.label('rougeL')} when the median training answer is over {LONG_ANSWER_WORDS} words "
                "(decided from the train split when the run is evaluated).")
    if task == CUSTOM:
        return ("Primary metric: the one you name for a custom task, one of "
                f"{', '.join(metrics.METRIC_NAMES)}.")
    chosen = task_metrics(task)
    return (f"Primary metric: {metrics.label(chosen.primary)} ({direction_words(chosen.direction)}): "
            f"{chosen.reason}.")


def task_picker(form: Any, errors: Any = None) -> str:
    """The task, prompt and prompt-column fields of the dataset form, the task's metric beside them."""
    form.draw(st, paths=TASK_PATHS, errors=errors)
    task = st.session_state.get("dataset.task", "summarize")
    st.caption(primary_metric_line(task))
    return task


@st.cache_data(ttl=60, show_spinner="Reading the pages…", max_entries=8)
def page_preview(config_json: str, stamp: float) -> PageSourcePreview:
    """The first examples and the build's split plan (`stamp`: the source's mtime, so edits show)."""
    fields = json.loads(config_json)
    return preview_page_source(DatasetConfig(**fields), n=PREVIEW_EXAMPLES)


def provenance(page: PreviewPage) -> str:
    dpi = f"{page.dpi} DPI" if page.dpi else "no DPI stated"
    return f"{page.file} · page {page.page} · {dpi}" + (" · blank" if page.blank else "")


def framed(thumbnail: Any) -> Any:
    """The thumbnail in a thin grey frame: a white page on the page's white background shows its edges."""
    from PIL import ImageOps

    return ImageOps.expand(thumbnail, border=2, fill=(190,) * len(thumbnail.getbands()))


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + " …"


def show_example(example: PreviewExample, target_from: str | None) -> None:
    """One example: its page thumbnails (file, page, DPI under each), prompt, target, text layer."""
    box = st.container(border=True)
    pages, words = box.columns([1, 2] if len(example.pages) == 1 else [3, 2])
    per_row = min(len(example.pages), THUMBNAILS_PER_ROW)
    for start in range(0, len(example.pages), per_row):
        for column, page in zip(pages.columns(per_row), example.pages[start:start + per_row]):
            column.image(framed(page.thumbnail), caption=provenance(page), width="stretch")
    words.markdown(f"**{example.id}**")
    words.caption("Prompt (given to the model as text)")
    words.text(example.prompt or "(none: the model's default instruction)")
    words.caption(f"Target ({target_from})" if target_from else "Target")
    if example.target:  # as written: line breaks kept, nothing read as markdown
        words.code(_cut(example.target), language=None, wrap_lines=True)
    else:
        words.warning("No target: this example has no text layer to transcribe and is left out of the build.")
    for page in example.pages:
        label = f"Text layer, {page.file} page {page.page}"
        with words.expander(label if page.text else f"{label}: none"):
            st.text(_cut(page.text) if page.text else "This page has no text layer (a scan or an image).")


def show_preview(preview: PageSourcePreview) -> None:
    """Where targets and prompts come from, then the first examples."""
    columns = preview.columns
    st.caption(f"Targets from {columns.get('target') or 'target'} · prompts from "
               f"{columns.get('prompt') or 'the task default'} · files from {columns.get('file') or 'the upload'}"
               f" · preview of the first {len(preview.examples)} of {preview.total} examples")
    for example in preview.examples:
        show_example(example, columns.get("target"))
