"""Dataset: pick a source (a bundled corpus, uploaded files, a local path, a hub dataset), pick the
task, map columns or look at the pages, set the render, generate; browse built datasets.

Uploads (`deepsynth.data.uploads`): a table; PDFs and images, several at once; a ZIP of page files
with a manifest (checked like an imported package before anything is unpacked); a LLaVA JSON with
its images. The limit stated is Streamlit's `server.maxUploadSize` as this server runs. Page
sources show thumbnails with their provenance, text layer, prompt and target
(`ui.page_sources`) and skip the rendering settings: their pages are rasterized, not drawn.

The form's values live on disk per user (ui.form_memory): switching the source or reloading keeps
the instruction, filters and render settings. Fields hold real defaults or stay empty with a hint
(no grey example text that looks like a value); the column fields offer the source's columns;
splits too small to train or evaluate on are flagged before the build; library messages name the
page's fields rather than command-line flags."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import streamlit as st

from deepsynth.configuration import ConfigError, default_of
from deepsynth.data import DatasetConfig, build_dataset
from deepsynth.data.builder import DestinationTaken
from deepsynth.data.config import FIRST_BUILD_LIMIT
from deepsynth.data.files import MiB
from deepsynth.data.form_checks import (
    planned_splits, preview_and_count, small_split_warnings, source_columns, with_field_names)
from deepsynth.data.page_examples import TargetsMissing, page_source_kind
from deepsynth.data.uploads import UPLOAD_SUFFIXES, save_uploads, upload_limit_text
from deepsynth.errors import DeepSynthError
from deepsynth.estimate.model_folders import describe_reading, model_folders
from deepsynth.render import RenderConfig
from deepsynth.settings import setting_at
from ui import cached, datasets, page_sources, settings
from ui.config_form import ConfigForm
from ui.form_memory import FormMemory
from ui.widgets import FieldErrors, show_error

SOURCES = {"Bundled corpus": "bundled", "Upload files": "upload", "Local path": "path", "Hugging Face": "hf"}
UPLOAD_DIGEST = re.compile(r"-[0-9a-f]{12}$")  # an upload folder's content digest, left out of the name
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
PREVIEW_DOCS = 20
LABELS = {"text_column": "Text column", "summary_column": "Summary column", "id_column": "Id column",
          "instruction": "Instruction prompt", "limit": "Keep at most", "min_text_chars": "Min text chars",
          "max_text_chars": "Max text chars", "min_summary_chars": "Min summary chars",
          "max_summary_chars": "Max summary chars", "validation_fraction": "Validation fraction",
          "test_fraction": "Test fraction", "seed": "Split seed", "workers": "Render processes",
          "language": "Language", "source": "Source", "max_input_mb": "file size limit",
          "max_input_bytes": "file size limit"}
PAGE_CHOSEN = ("source", "language", "text_column", "summary_column", "id_column", "instruction", "render",
               "max_input_bytes")  # drawn above from the source's own choices; the file size limit is the admin's
dataset_form = ConfigForm(DatasetConfig, "dataset", skip=PAGE_CHOSEN, columns=4, advanced_title="Filters, splits and page files")
render_form = ConfigForm(RenderConfig, "dataset.render", skip=("font",), columns=4,
                         advanced_title="More rendering settings (colours, fonts, header)")
LABELS.update({field.path: field.label for field in (*dataset_form.fields, *render_form.fields)})
DEFAULTS = {"dataset.source_kind": "Bundled corpus", "dataset.bundled": "wiki", "dataset.language": "en",
            "dataset.path": "", "dataset.hf": "", "dataset.text_column": "", "dataset.summary_column": "",
            "dataset.id_column": "", "dataset.instruction": "", "dataset.render.font": default_of(RenderConfig, "font"),
            **dataset_form.defaults({"limit": FIRST_BUILD_LIMIT}), **render_form.defaults()}

config = settings.load()
state = st.session_state
memory = FormMemory("dataset")
memory.restore(DEFAULTS, DEFAULTS)
st.title("Dataset")
mode = st.segmented_control("Mode", ["Build", "Browse"], default="Build", key="dataset.mode",
                            label_visibility="collapsed")


@st.cache_data(ttl=30, show_spinner=False)
def preview(config_json: str, stamp: float) -> tuple[list[dict], dict, int | None, list[str]]:
    """First documents after mapping and filters, and how many a build keeps (`stamp`: the file's
    mtime, so edits show)."""
    found = preview_and_count(DatasetConfig(**json.loads(config_json)), PREVIEW_DOCS)
    rows = [{"id": r.id, "text": r.text, "summary": r.summary} for r in found.collected.records]
    return rows, found.collected.columns, found.kept, found.collected.warnings


@st.cache_data(ttl=60, show_spinner=False)
def columns_of(source: str, language: str, stamp: float) -> list[str]:
    try:
        return source_columns(DatasetConfig(source=source, language=language))
    except (DeepSynthError, StopIteration):  # unreadable or empty: the preview says why
        return []


def say(error: Exception) -> None:
    """A library error for this page: its flags named as the page's fields."""
    show_error(DeepSynthError(with_field_names(str(error), LABELS)))


if mode == "Browse":
    memory.save(DEFAULTS)
    datasets.browse(config.datasets)
    st.stop()

# -- 1. source --------------------------------------------------------------------------------------
errors = FieldErrors()
st.subheader("1 · Source")
kind = SOURCES[st.radio("Source", list(SOURCES), horizontal=True, key="dataset.source_kind")]
language = "en"
stamp = 0.0
source = ""
if kind == "bundled":
    source = st.selectbox("Corpus", ["wiki", "aclsum"], key="dataset.bundled",
                          format_func={"wiki": "Wikipedia extracts (10k, en/fr/es)", "aclsum": "ACLSum papers"}.get)
    if source == "wiki":
        language = st.selectbox("Language", ["en", "fr", "es"], key="dataset.language")
elif kind == "upload":
    upload_limit = int(st.get_option("server.maxUploadSize")) * MiB  # what this server accepts
    st.caption(f"Upload limit: {upload_limit_text(upload_limit)}. A ZIP is checked before anything is unpacked, "
               "like an imported model package: no paths leading out of it, no links, and limits on its size "
               "and compression ratio.")
    uploads = st.file_uploader(
        f"Files to build from (up to {upload_limit_text(upload_limit)})", key="dataset.upload",
        type=[suffix.lstrip(".") for suffix in UPLOAD_SUFFIXES], accept_multiple_files=True,
        help="A table (CSV, TSV, JSONL, JSON, Parquet); PDFs or page images (PNG, JPEG, TIFF, WebP), several at "
             "once; a ZIP of page files with a manifest (manifest.csv or manifest.jsonl: file, target, and optional "
             "id, pages, prompt); or a LLaVA/ShareGPT JSON with its images (in a ZIP, or the image files).")
    last = memory.values().get("last_upload")
    if uploads:
        try:
            saved = save_uploads([(f.name, f.getvalue()) for f in uploads], config.datasets / "uploads",
                                 upload_limit).source
        except DeepSynthError as error:
            say(error)  # right under the uploader: size, type, encoding, archive checks
            memory.save(DEFAULTS)
            st.stop()
        memory.remember("last_upload", str(saved))
        st.caption(f"Saved in the datasets folder as `{saved.relative_to(config.datasets)}`")
    elif last and Path(last).exists():
        saved = Path(last)
        st.caption(f"Using your last upload `{saved.name}` (upload other files to replace it).")
    else:
        memory.save(DEFAULTS)
        st.info("Upload files to continue; your other settings are kept.")
        st.stop()
    source, stamp = str(saved), saved.stat().st_mtime
elif kind == "path":
    source = st.text_input("File path (CSV, TSV, JSONL, JSON or Parquet)", key="dataset.path").strip()
    stamp = Path(source).stat().st_mtime if source and Path(source).is_file() else 0.0
else:
    name = st.text_input("Dataset: NAME[:CONFIG][@SPLIT] (e.g. cnn_dailymail:3.0.0@train) or a local dataset folder",
                         key="dataset.hf").strip()
    source = f"hf:{name}" if name else ""
errors.slot("source", "language", "max_input_bytes")
if not source:
    memory.save(DEFAULTS)
    st.info("Choose a source to continue; your other settings are kept.")
    st.stop()


def is_page_source(source: str) -> bool:
    """PDFs, images, a page folder or a LLaVA JSON (the page flow), rather than a text table."""
    if kind not in ("upload", "path") or not Path(source).expanduser().exists():
        return False
    try:
        return page_source_kind(DatasetConfig(source=source, manifest=state.get("dataset.manifest", ""))) is not None
    except DeepSynthError:
        return False  # the table flow's preview says what is wrong


pages_flow = is_page_source(source)
if pages_flow:
    # -- 2. task and pages: nothing is rendered, the pages are the files' own ----------------------
    st.subheader("2 · Task and pages")
    page_sources.task_picker(dataset_form, errors)
    dataset_form.draw(st, skip_paths=page_sources.TASK_PATHS, errors=errors)
    memory.save(DEFAULTS)
    try:
        dataset_config = dataset_form.build(extra={"source": source})
    except ConfigError as error:
        errors.show(ConfigError(error.problems, "dataset settings"))
        st.stop()
    try:
        shown = page_sources.page_preview(json.dumps({k: v for k, v in vars(dataset_config).items() if k != "render"},
                                                     default=str), stamp)
    except TargetsMissing as missing:
        manifest = ("upload a ZIP holding the files and a manifest" if kind == "upload"
                    else "add a manifest to the folder (or name one in “Manifest”)")
        st.error(f"These pages have no targets for the {missing.task} task. Choose **transcribe** in “Task” (each "
                 f"page's text layer is its target), or {manifest} (manifest.csv or manifest.jsonl with columns "
                 "file, target, and optional id, pages, prompt).")
        st.stop()
    except DeepSynthError as error:
        say(error)
        st.stop()
    for warning in shown.warnings:
        st.warning(with_field_names(warning, LABELS))
    sizes = shown.splits
    st.caption(f"{shown.total} examples from {shown.documents} document(s); a build splits them {sizes['train']} "
               f"train · {sizes['validation']} validation · {sizes['test']} test (by document: the examples of "
               "one file stay in one split).")
    for warning in small_split_warnings(sizes):
        st.warning(warning, icon=":material/data_alert:")
    page_sources.show_preview(shown)
    generate_heading = "3 · Generate"
else:
    generate_heading = "4 · Generate"
    dataset_config = None

# -- 2. columns, filters, instruction ---------------------------------------------------------------
if dataset_config is None:
    st.subheader("2 · Columns and prompt")
    found_columns = columns_of(source, language, stamp)
    c1, c2, c3 = st.columns(3)
    for role, column, hint in (("text", c1, "detected"), ("summary", c2, "detected"), ("id", c3, "row number if none")):
        key = f"dataset.{role}_column"
        options = ["", *found_columns]
        if state.get(key) not in options:  # a column of another source: back to automatic
            state[key] = ""
        column.selectbox(LABELS[f"{role}_column"], options, key=key,
                         format_func=lambda c, hint=hint: c or f"automatic ({hint})",
                         help=f"Which of the source's columns holds the {role}.")
    errors.slot("text_column", "summary_column", "id_column")
    instruction = st.text_area("Instruction prompt, drawn above every document (optional)", key="dataset.instruction",
                               height=68, help="Rendered as a header on each page and kept with the document. "
                                               "Leave it empty for pages without an instruction.")
    if not instruction.strip():
        st.caption("No instruction: the pages show the document only.")
    page_sources.task_picker(dataset_form, errors)
    dataset_form.draw(st, skip_paths=page_sources.TASK_PATHS, errors=errors)

    # -- 3. render settings -------------------------------------------------------------------------
    st.subheader("3 · Rendering")
    fonts = cached.font_choices()
    if state.get("dataset.render.font") not in fonts:
        state["dataset.render.font"] = fonts[0]
    font_setting = setting_at(RenderConfig, "font")
    st.selectbox(font_setting.label, fonts, key="dataset.render.font", help=font_setting.help)
    render_form.draw(st, errors=errors, titles=False)
    errors.slot("font")
    memory.save(DEFAULTS)

    problems: list[tuple[str, str]] = []  # render and dataset settings checked together: every problem at once
    try:
        render = render_form.build(extra={"font": state["dataset.render.font"]})
    except ConfigError as error:
        problems += error.problems
        render = RenderConfig()
    try:
        dataset_config = dataset_form.build(extra={
            "source": source, "language": language, "text_column": state["dataset.text_column"],
            "summary_column": state["dataset.summary_column"], "id_column": state["dataset.id_column"],
            "instruction": instruction.strip()})
        dataset_config = dataclasses.replace(dataset_config, render=render)
    except ConfigError as error:
        problems += error.problems
    if problems:
        errors.show(ConfigError(problems, "dataset settings"))
        st.stop()

    # -- preview: table and first page --------------------------------------------------------------
    fields = {k: v for k, v in vars(dataset_config).items() if k != "render"}
    try:
        rows, columns, kept, warnings = preview(json.dumps(fields, default=str), stamp)
    except DeepSynthError as error:
        say(error)
        st.stop()
    st.caption(f"Columns used: text ← `{columns['text']}`, summary ← `{columns['summary']}`, "
               f"id ← `{columns['id'] or 'row number'}` · preview of the first {len(rows)} documents")
    for warning in warnings:
        st.warning(with_field_names(warning, LABELS))
    if kept is not None:  # counted from the rows there (a hub dataset without a limit: only a build knows)
        sizes = planned_splits(kept, dataset_config)
        st.caption(f"A build keeps {kept} documents: {sizes['train']} train · "
                   f"{sizes['validation']} validation · {sizes['test']} test.")
        for warning in small_split_warnings(sizes):
            st.warning(warning, icon=":material/data_alert:")
    table, page = st.columns([3, 2])
    table.dataframe(rows, width="stretch", height=420, key="dataset.preview_table", column_config={
        "id": st.column_config.TextColumn("id", width="small"), "text": st.column_config.TextColumn("text", width="medium"),
        "summary": st.column_config.TextColumn("summary", width="medium")})
    png, n_pages, render_warnings = datasets.render_preview(datasets.render_key(render), rows[0]["text"],
                                                            dataset_config.instruction)
    page.container(border=True).image(png, caption=f"{rows[0]['id']}: page 1 of {n_pages}", width="stretch",
                                      output_format="PNG")
    for warning in render_warnings:
        page.warning(warning)
    readers = ["default", *(str(path) for path in model_folders())]  # built-in reader + workspace/models/
    reading_model = page.selectbox("What a model reads from this page", readers, key="dataset.reading_model",
                                   format_func=lambda m: m.rsplit("/", 1)[-1],
                                   help="The models in workspace/models/ (one folder or link per model): a native "
                                        "vision-language model reads the page through its own processor.")
    try:
        page.caption(describe_reading(reading_model, render).describe())
    except DeepSynthError as error:
        page.caption(str(error))

# -- generate ---------------------------------------------------------------------------------------
st.subheader(generate_heading)
stem = UPLOAD_DIGEST.sub("", source.rstrip("/").split("/")[-1].split(".")[0].removeprefix("hf:")) or "dataset"
default_name = f"{stem}-{time.strftime('%Y%m%d-%H%M')}"
name = st.text_input("Dataset name", value=default_name, key="dataset.name")
overwrite = st.checkbox("Replace an existing dataset of that name", key="dataset.overwrite")
if not NAME.match(name):
    st.error("Use letters, digits, '.', '_' and '-' (no spaces or slashes), starting with a letter or digit.")
    st.stop()
out_dir = config.datasets / name
if st.button("Generate dataset", type="primary", key="dataset.generate"):
    bar = st.progress(0.0, text="reading documents…")
    done_text = "read {done} / {total} examples" if pages_flow else "rendered {done} / {total} documents"

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=done_text.format(done=done, total=total))

    try:
        pool = cached.render_pool(dataset_config.workers) if dataset_config.workers != 1 and not pages_flow else None
        written = build_dataset(dataset_config, out_dir, progress=progress, overwrite=overwrite, pool=pool)
    except DestinationTaken:
        bar.empty()
        st.error(f"A dataset named “{name}” already exists: choose another “Dataset name”, or tick “Replace an "
                 "existing dataset of that name”.")
        st.stop()
    except DeepSynthError as error:
        bar.empty()
        say(error)
        st.stop()
    bar.empty()
    datasets.list_datasets.clear()
    FormMemory("train").remember("train.dataset", str(written))  # the Train page starts from it
    state.pop("train.dataset", None)
    built = next(d for d in datasets.list_datasets(str(config.datasets)) if d.path == str(written))
    c = built.metadata["counts"]
    unit = "examples" if pages_flow else "documents"
    st.success(f"Wrote `{written}`: {c['kept']} {unit} ({c['train']} train, {c['validation']} validation, "
               f"{c['test']} test), {c['pages']} pages. The **Train** page now starts from it.")
    for warning in built.metadata.get("warnings", []):
        st.warning(with_field_names(warning, LABELS))
    for warning in small_split_warnings({k: c[k] for k in ("train", "validation", "test")}):
        st.warning(warning, icon=":material/data_alert:")
