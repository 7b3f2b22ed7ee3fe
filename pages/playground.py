"""Playground: one text or page file (PDF or image) and a prompt; the outputs of the base and one or
more adapters side by side, each shown as soon as it is ready with its time, the adapter's
evaluation score, and (given a reference) its score against it, both in the adapter's task metric.
Adapters that need different bases each get theirs (`deepsynth.inference.side_by_side`, in the
child process). The inputs are kept across adapter changes, reloads and restarts (`FormMemory`)."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import streamlit as st

from deepsynth.data.page_files import PAGE_SUFFIXES
from deepsynth.errors import DeepSynthError
from deepsynth.inference import BASE, playground_client
from deepsynth.inference.side_by_side import hub_bases
from deepsynth.render import RenderConfig, encode_png
from deepsynth.sweeps.parent_run import trained_runs
from ui import cached, datasets, hub_downloads, settings
from ui.form_memory import FormMemory
from ui.playground_adapters import adapter_choices, in_short_names, reference_score
from ui.widgets import default_adapter, show_error

SAMPLE = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
          "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. "
          "Locally nicknamed \"La dame de fer\", it was constructed as the centrepiece of the 1889 World's Fair.")
TEXT, PAGE_FILE = "Text", "Page file (PDF or image)"
KEYS = ["playground.adapters", "playground.base", "playground.kind", "playground.text", "playground.prompt",
        "playground.reference"]
config = settings.load()
st.title("Playground")

# -- adapters: registered versions and aliases, then finished runs -----------------------------------
choices = adapter_choices(cached.adapters(config.uri), trained_runs(cached.runs(config.uri, None, ("FINISHED",))))
if not choices:
    st.info("No adapters yet: train a run (**Train**) or register one (**Export & registry**).")
    st.stop()
memory = FormMemory("playground")
memory.restore(KEYS, {"playground.adapters": default_adapter(list(choices), {k: c.ranking for k, c in choices.items()}),
                      "playground.base": True, "playground.kind": TEXT, "playground.text": SAMPLE,
                      "playground.prompt": "", "playground.reference": ""})
kept = st.session_state.get("playground.adapters")  # a remembered adapter may have been deleted since
st.session_state["playground.adapters"] = [c for c in (kept if isinstance(kept, list) else []) if c in choices][:4]
if st.session_state.get("playground.kind") not in (TEXT, PAGE_FILE):
    st.session_state["playground.kind"] = TEXT
picked = st.multiselect("Adapters to compare", list(choices), key="playground.adapters",
                        format_func=lambda choice: choices[choice].label, max_selections=4,
                        help="Each with the score its run logged on its own held-out documents, in its task's "
                             "metric. Adapters that need different base models each get theirs.")
include_base = st.checkbox("Also the base model (no adapter)", key="playground.base")

# -- input: a text rendered to a page, or an uploaded PDF or page image -----------------------------
kind = st.radio("Input", [TEXT, PAGE_FILE], horizontal=True, key="playground.kind")
text = upload = None
left, right = st.columns([3, 2])
if kind == TEXT:
    text = left.text_area("Document", height=260, key="playground.text")
    if text.strip():
        png, pages, _ = datasets.render_preview(datasets.render_key(RenderConfig()), text, "")
        right.container(border=True).image(
            png, caption=f"page 1 of {pages} (default render; each adapter uses its own settings)",
            width="stretch", output_format="PNG")
else:
    upload = left.file_uploader(
        "Page file", type=sorted(suffix.lstrip(".") for suffix in PAGE_SUFFIXES), key="playground.file",
        help="A PDF (rasterized at the DPI of each adapter's dataset, up to its page cap) or a page image. "
             f"Up to {st.get_option('server.maxUploadSize')} MB.")
i1, i2 = st.columns(2)
prompt = i1.text_input("Prompt (optional)", key="playground.prompt",
                       placeholder="empty: each adapter's task default",
                       help="What to ask, given to the model as text (a question, an instruction); never "
                            "drawn on the page. Empty: the default prompt of each adapter's task.")
reference = i2.text_input("Reference answer (optional)", key="playground.reference",
                          help="Scores each output against it with the adapter's task metric.")
memory.save(KEYS)  # what was typed outlives removing every adapter, a reload and a restart


def safe_name(name: str) -> str:
    """The uploaded file's base name, reduced to file-safe characters (never a path)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "page"
    suffix = Path(name).suffix.lower()
    return cleaned if cleaned.lower().endswith(suffix) else cleaned + suffix


def show_page_file(upload: Any) -> bool:
    """The upload's first page and page count (read as `deepsynth infer --file` reads it); a file
    that cannot be read is refused here, naming it. Returns whether it can be used."""
    from deepsynth.inference.page_input import PageFileSettings, read_page_file

    with tempfile.TemporaryDirectory(prefix="deepsynth-playground-") as folder:
        path = Path(folder) / safe_name(upload.name)
        path.write_bytes(upload.getvalue())
        try:
            read = read_page_file(path, PageFileSettings(max_document_pages=1), name=upload.name)
        except DeepSynthError as error:
            show_error(error)
            return False
    right.container(border=True).image(encode_png(read.images[0]), width="stretch", output_format="PNG",
                                       caption=f"{upload.name}: page 1 of {read.total} (at the reader's default DPI)")
    return True


if not picked:
    st.info("Choose one adapter or more above to run them on this input.")
    st.stop()
if kind == TEXT and not (text or "").strip():
    left.error("Write or paste a document.")
    st.stop()
if kind == PAGE_FILE and (upload is None or not show_page_file(upload)):
    st.stop()
inputs = (tuple(picked), text, upload.file_id if upload is not None else None, include_base, prompt.strip())
order = ([BASE] if include_base else []) + list(picked)


def metric_of(label: str) -> str:
    """The metric an output is scored in: its adapter's task metric (the base: the first adapter's)."""
    return choices[picked[0] if label == BASE else label].metric


def title(label: str) -> str:
    if label == BASE:
        return "**Base model** (no adapter)"
    return f"**{choices[label].label if label in choices else label}**"


def draw(slots: dict, results: dict, loaded_s: float | None, running: bool, failed: bool = False) -> None:
    """Each model's column: waiting, or its output with its time (and its score vs the reference)."""
    for label, slot in slots.items():
        with slot.container():
            st.markdown(title(label))
            result = results.get(label)
            if result is None:
                st.caption("waiting…" if running else ("not run: see the error above" if failed else "no output"))
                continue
            st.info(result["summary"] or "(empty output)")
            measured = f"{result['seconds']:.1f} s" + (" (includes reading the page)" if label == order[0] else "")
            if reference.strip():
                measured += " · " + reference_score(metric_of(label), result["summary"], reference.strip())
            st.caption(measured)
    if loaded_s is not None:
        st.caption(f"Models loaded in {loaded_s:.1f} s (in a separate process).")


def run_models(slots: dict, above: Any) -> tuple[dict, float | None]:
    results: dict[str, dict] = {}
    loaded: list[float] = []
    status = above.status(f"Starting {len(order)} model(s) in a separate process…", expanded=False)
    started = time.perf_counter()
    draw(slots, results, None, running=True)  # every model's column says it is waiting

    def on_event(event: Any) -> None:
        if event.event == "plan":
            for said in (event.note, event.pages):  # before anything loads
                if said:
                    above.info(in_short_names(said, choices), icon=":material/info:")
            if event.bases:
                above.caption(in_short_names(event.bases[0].upper() + event.bases[1:] + ".", choices))
            status.update(label=f"Loading the base model(s) and {len(picked)} adapter(s)…")
            return
        if event.event == "loaded":
            loaded.append(event.seconds)
            status.update(label=f"Loaded in {event.seconds:.1f} s; running {len(order)} model(s)…")
        else:
            results[event.label] = {"summary": event.summary, "seconds": event.seconds}
            status.update(label=f"{len(results)} of {len(order)} done ({time.perf_counter() - started:.0f} s)")
        draw(slots, results, None, running=True)

    common = dict(include_base=include_base, prompt=prompt.strip(), uri=config.uri)
    try:
        if upload is None:
            playground_client.summarize_each(picked, on_event, text=text, **common)
        else:
            with tempfile.TemporaryDirectory(prefix="deepsynth-playground-") as folder:
                path = Path(folder) / safe_name(upload.name)
                path.write_bytes(upload.getvalue())
                try:
                    playground_client.summarize_each(picked, on_event, file=path, **common)
                except DeepSynthError as error:  # name the upload, not the temporary copy
                    raise DeepSynthError(str(error).replace(str(path), upload.name)) from None
    except DeepSynthError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        status.update(label=f"Stopped: {first[:200]}", state="error")  # the spinner ends with the message
        draw(slots, results, None, running=False, failed=True)
        raise
    status.update(label=f"Done: {len(results)} model(s) in {time.perf_counter() - started:.1f} s", state="complete")
    return results, (sum(loaded) if loaded else None)


VERBS = {"summarize": "Summarize", "transcribe": "Transcribe", "qa": "Answer", "extract": "Extract",
         "translate": "Translate"}
tasks = {choices[label].task for label in picked}
clicked = st.button(VERBS.get(tasks.pop(), "Run") if len(tasks) == 1 else "Run", type="primary", key="playground.go")
progress = st.container()  # the status line sits above the models' columns
slots = dict(zip(order, (column.empty() for column in st.columns(len(order)))))
if clicked and hub_downloads.fetch_all(hub_bases(picked, config.uri), progress):  # bases named by hub id
    try:
        results, loaded_s = run_models(slots, progress)
        st.session_state["playground.results"] = (inputs, results, loaded_s)
    except DeepSynthError as error:
        show_error(error)
shown_for, results, loaded_s = st.session_state.get("playground.results", (None, None, None))
if results and shown_for == inputs:  # never show outputs of other inputs
    draw(slots, results, loaded_s, running=False)
