"""Playground: one text (or page image), summaries from the base and one or more adapters side by side."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from deepsynth.inference import BASE, playground_client
from deepsynth.errors import DeepSynthError
from deepsynth.render import RenderConfig
from ui import cached, datasets, settings
from ui.widgets import run_label, show_error

SAMPLE = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
          "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. "
          "Locally nicknamed \"La dame de fer\", it was constructed as the centrepiece of the 1889 World's Fair.")
config = settings.load()
st.title("Playground")

# -- adapters: registered versions and aliases, then finished runs -----------------------------------
choices: dict[str, str] = {}
for adapter in cached.adapters(config.uri):
    for alias, version in sorted(adapter.aliases.items()):
        choices[f"models:/{adapter.name}@{alias}"] = f"{adapter.name}@{alias} (version {version})"
    for version in adapter.versions:
        choices[f"models:/{adapter.name}/{version.version}"] = f"{adapter.name} version {version.version}"
for run in cached.runs(config.uri, None, ("FINISHED",)):
    choices[run.run_id] = f"run {run_label(run)}"
if not choices:
    st.info("No adapters yet: train a run (**Train**) or register one (**Export & registry**).")
    st.stop()
picked = st.multiselect("Adapters to compare", list(choices), default=list(choices)[:1], key="playground.adapters",
                        format_func=choices.get, max_selections=4)
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
instruction = st.text_input("Instruction (optional)", key="playground.instruction", placeholder="training default")
inputs = (tuple(picked), text, image.file_id if image is not None else None, include_base, instruction.strip())


def summarize() -> dict[str, str]:
    if image is None:
        return playground_client.summarize(picked, text=text, include_base=include_base,
                                           instruction=instruction.strip(), uri=config.uri)
    with tempfile.TemporaryDirectory(prefix="deepsynth-playground-") as folder:
        path = Path(folder) / ("page" + Path(image.name).suffix.lower())
        path.write_bytes(image.getvalue())
        return playground_client.summarize(picked, image=path, include_base=include_base,
                                           instruction=instruction.strip(), uri=config.uri)


if st.button("Summarize", type="primary", key="playground.go"):
    try:
        with st.spinner("Loading the model and summarizing in a separate process…"):
            st.session_state["playground.results"] = (inputs, summarize())
    except DeepSynthError as error:
        show_error(error)
shown_for, results = st.session_state.get("playground.results", (None, None))
if results and shown_for == inputs:  # never show summaries of other inputs
    columns = st.columns(len(results))
    for column, (label, summary) in zip(columns, results.items()):
        column.markdown(f"**{'Base model' if label == BASE else choices.get(label, label)}**")
        column.info(summary or "(empty summary)")
