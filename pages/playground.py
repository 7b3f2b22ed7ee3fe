"""Playground: one text (or page image), summaries from the base and one or more adapters side by
side, each shown as soon as it is ready with its time, the adapter's evaluation score, and (given a
reference summary) its ROUGE-L against it."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import streamlit as st

from deepsynth.errors import DeepSynthError
from deepsynth.inference import BASE, playground_client
from deepsynth.render import RenderConfig
from deepsynth.sweeps.parent_run import trained_runs
from deepsynth.tracking.alias_guard import ranking_score, score_of, score_text
from deepsynth.tracking.registry import alias_uri, version_uri
from ui import cached, datasets, settings
from ui.widgets import default_adapter, run_label, show_error

SAMPLE = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
          "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. "
          "Locally nicknamed \"La dame de fer\", it was constructed as the centrepiece of the 1889 World's Fair.")
config = settings.load()
st.title("Playground")

# -- adapters: registered versions and aliases, then finished runs -----------------------------------
choices: dict[str, str] = {}
scores: dict[str, float | None] = {}
for adapter in cached.adapters(config.uri):
    tags = {v.version: v.tags for v in adapter.versions}
    for alias, version in sorted(adapter.aliases.items()):
        scores[alias_uri(adapter.name, alias)] = ranking_score(tags.get(version))
        choices[alias_uri(adapter.name, alias)] = (f"{adapter.name}@{alias} (version {version}) · "
                                                      f"{score_text(score_of(tags.get(version)))}")
    for version in adapter.versions:
        scores[version_uri(adapter.name, version.version)] = ranking_score(version.tags)
        choices[version_uri(adapter.name, version.version)] = (f"{adapter.name} version {version.version} · "
                                                                f"{score_text(score_of(version.tags))}")
for run in trained_runs(cached.runs(config.uri, None, ("FINISHED",))):
    choices[run.run_id] = f"run {run_label(run)}"
    scores[run.run_id] = ranking_score(run.metrics)
if not choices:
    st.info("No adapters yet: train a run (**Train**) or register one (**Export & registry**).")
    st.stop()
picked = st.multiselect("Adapters to compare", list(choices), default=default_adapter(list(choices), scores),
                        key="playground.adapters",
                        format_func=choices.get, max_selections=4,
                        help="Each with the ROUGE-L its run scored on its own held-out documents.")
include_base = st.checkbox("Also the base model (no adapter)", value=True, key="playground.base")
if not picked:
    st.info("Choose one adapter or more.")
    st.stop()

# -- input: a text rendered to a page, or an uploaded page image ------------------------------------
kind = st.radio("Input", ["Text", "Page image"], horizontal=True, key="playground.kind")
text = image = None
left, right = st.columns([3, 2])
if kind == "Text":
    text = left.text_area("Document", value=SAMPLE, height=260, key="playground.text")
    if not text.strip():
        left.error("Write or paste a document to summarize.")
        st.stop()
    png, pages, _ = datasets.render_preview(datasets.render_key(RenderConfig()), text, "")
    right.container(border=True).image(
        png, caption=f"page 1 of {pages} (default render; each adapter uses its own settings)",
        width="stretch", output_format="PNG")
else:
    upload = left.file_uploader("Page image", type=["png", "jpg", "jpeg"], key="playground.image")
    if upload is None:
        st.stop()
    right.image(upload.getvalue(), caption=upload.name, width="stretch")
    image = upload
i1, i2 = st.columns(2)
instruction = i1.text_input("Instruction (optional; empty = the one the adapter was trained with)",
                            key="playground.instruction")
reference = i2.text_input("Reference summary (optional; scores each output with ROUGE-L)", key="playground.reference")
inputs = (tuple(picked), text, image.file_id if image is not None else None, include_base, instruction.strip())
order = ([BASE] if include_base else []) + list(picked)


def title(label: str) -> str:
    if label == BASE:
        return "**Base model** (no adapter)"
    return f"**{choices.get(label, label)}**"


def draw(slots: dict, results: dict, loaded_s: float | None, running: bool) -> None:
    """Each model's column: waiting, or its summary with its time (and ROUGE-L vs the reference)."""
    for label, slot in slots.items():
        with slot.container():
            st.markdown(title(label))
            result = results.get(label)
            if result is None:
                st.caption("waiting…" if running else "no summary")
                continue
            st.info(result["summary"] or "(empty summary)")
            measured = f"{result['seconds']:.1f} s" + (" (includes reading the page)" if label == order[0] else "")
            if reference.strip():
                from deepsynth.evaluation.rouge import rouge_per_document

                rouge_l = rouge_per_document([result["summary"]], [reference.strip()])[0]["rougeL"]
                measured += f" · ROUGE-L {rouge_l:.1f} vs your reference"
            st.caption(measured)
    if loaded_s is not None:
        st.caption(f"Model and adapters loaded in {loaded_s:.1f} s (in a separate process).")


def run_models(slots: dict, above: Any) -> tuple[dict, float | None]:
    results: dict[str, dict] = {}
    loaded: list[float] = []
    status = above.status(f"Loading the base model and {len(picked)} adapter(s) in a separate process…",
                          expanded=False)
    started = time.perf_counter()
    draw(slots, results, None, running=True)  # every model's column says it is waiting

    def on_event(event) -> None:
        if event.event == "loaded":
            loaded.append(event.seconds)
            status.update(label=f"Loaded in {event.seconds:.1f} s; summarizing with {len(order)} model(s)…")
        else:
            results[event.label] = {"summary": event.summary, "seconds": event.seconds}
            status.update(label=f"{len(results)} of {len(order)} done ({time.perf_counter() - started:.0f} s)")
        draw(slots, results, None, running=True)

    common = dict(include_base=include_base, instruction=instruction.strip(), uri=config.uri)
    if image is None:
        playground_client.summarize_each(picked, on_event, text=text, **common)
    else:
        with tempfile.TemporaryDirectory(prefix="deepsynth-playground-") as folder:
            path = Path(folder) / ("page" + Path(image.name).suffix.lower())
            path.write_bytes(image.getvalue())
            playground_client.summarize_each(picked, on_event, image=path, **common)
    status.update(label=f"Done: {len(results)} model(s) in {time.perf_counter() - started:.1f} s", state="complete")
    return results, (loaded[0] if loaded else None)


clicked = st.button("Summarize", type="primary", key="playground.go")
progress = st.container()  # the status line sits above the models' columns
slots = dict(zip(order, (column.empty() for column in st.columns(len(order)))))
if clicked:
    try:
        results, loaded_s = run_models(slots, progress)
        st.session_state["playground.results"] = (inputs, results, loaded_s)
    except DeepSynthError as error:
        show_error(error)
shown_for, results, loaded_s = st.session_state.get("playground.results", (None, None, None))
if results and shown_for == inputs:  # never show summaries of other inputs
    draw(slots, results, loaded_s, running=False)
