"""Dataset: pick a source, map columns, preview, set the render, generate; browse built datasets."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import streamlit as st

from deepsynth.configuration import ConfigError
from deepsynth.data import DatasetConfig, build_dataset, collect_records, save_upload
from deepsynth.data.files import FORMATS_BY_SUFFIX
from deepsynth.errors import DeepSynthError
from deepsynth.render import MODES, RenderConfig
from ui import cached, datasets, settings
from ui.widgets import FieldErrors, show_error

SOURCES = {"Bundled corpus": "bundled", "Upload a file": "upload", "Local path": "path", "Hugging Face": "hf"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")

config = settings.load()
st.title("Dataset")
mode = st.segmented_control("Mode", ["Build", "Browse"], default="Build", key="dataset.mode",
                            label_visibility="collapsed")


@st.cache_data(ttl=30, show_spinner=False)
def preview(config_json: str, stamp: float) -> tuple[list[dict], dict, dict, list[str]]:
    """First 20 documents after mapping and filters (`stamp`: the file's mtime, so edits show)."""
    collected = collect_records(DatasetConfig(**json.loads(config_json)), limit=20)
    rows = [{"id": r.id, "text": r.text, "summary": r.summary} for r in collected.records]
    return rows, collected.columns, collected.counts, collected.warnings


if mode == "Browse":
    datasets.browse(config.datasets)
    st.stop()

# -- 1. source --------------------------------------------------------------------------------------
errors = FieldErrors()
st.subheader("1 · Source")
kind = SOURCES[st.radio("Source", list(SOURCES), horizontal=True, key="dataset.source_kind")]
language = "en"
stamp = 0.0
if kind == "bundled":
    source = st.selectbox("Corpus", ["wiki", "aclsum"], key="dataset.bundled",
                          format_func={"wiki": "Wikipedia extracts (10k, en/fr/es)", "aclsum": "ACLSum papers"}.get)
    if source == "wiki":
        language = st.selectbox("Language", ["en", "fr", "es"], key="dataset.language")
elif kind == "upload":
    upload = st.file_uploader("CSV, TSV, JSONL, JSON or Parquet", key="dataset.upload",
                              type=[suffix.lstrip(".") for suffix in FORMATS_BY_SUFFIX])
    if upload is None:
        st.stop()
    try:
        saved = save_upload(upload.getvalue(), upload.name, config.datasets / "uploads")
    except DeepSynthError as error:
        show_error(error)  # right under the uploader: size, type, encoding, Parquet marker
        st.stop()
    source, stamp = str(saved), saved.stat().st_mtime
    st.caption(f"Saved as `{saved}`")
elif kind == "path":
    source = st.text_input("File path", key="dataset.path", placeholder="/data/corpus.jsonl").strip()
    stamp = Path(source).stat().st_mtime if source and Path(source).is_file() else 0.0
else:
    source = "hf:" + st.text_input("Dataset (NAME[:CONFIG][@SPLIT] or a local dataset folder)",
                                   key="dataset.hf", placeholder="cnn_dailymail:3.0.0@train")
errors.slot("source", "language", "max_input_bytes")
if source in ("", "hf:"):
    st.info("Choose a source to continue.")
    st.stop()

# -- 2. columns, filters, instruction ---------------------------------------------------------------
st.subheader("2 · Columns and prompt")
c1, c2, c3 = st.columns(3)
text_column = c1.text_input("Text column", key="dataset.text_column", placeholder="detected")
summary_column = c2.text_input("Summary column", key="dataset.summary_column", placeholder="detected")
id_column = c3.text_input("Id column", key="dataset.id_column", placeholder="id or row number")
errors.slot("text_column", "summary_column", "id_column")
instruction = st.text_area("Instruction prompt (drawn above every document)", key="dataset.instruction",
                           placeholder="Summarize this text:", height=68)
with st.expander("Filters and splits"):
    f1, f2, f3, f4 = st.columns(4)
    limit = f1.number_input("Keep at most (0 = all)", value=200, step=50, key="dataset.limit")
    min_text = f2.number_input("Min text chars", value=1, key="dataset.min_text_chars")
    max_text = f3.number_input("Max text chars (0 = none)", value=0, key="dataset.max_text_chars")
    seed = f4.number_input("Split seed", value=0, key="dataset.seed")
    errors.slot("limit", "min_text_chars", "max_text_chars", "seed", "min_summary_chars", "max_summary_chars")
    s1, s2, s3 = st.columns(3)
    validation = s1.number_input("Validation fraction", value=0.1, step=0.05, key="dataset.validation_fraction")
    test = s2.number_input("Test fraction", value=0.1, step=0.05, key="dataset.test_fraction")
    workers = s3.number_input("Render processes (0 = one per core)", value=0, key="dataset.workers")
    errors.slot("validation_fraction", "test_fraction", "workers")

# -- 3. render settings -----------------------------------------------------------------------------
st.subheader("3 · Rendering")
r1, r2, r3, r4 = st.columns(4)
font = r1.selectbox("Font", cached.font_choices(), key="dataset.render.font")
font_size = r2.number_input("Font size (px)", value=22, key="dataset.render.font_size")
render_mode = r3.selectbox("Resolution mode", list(MODES), key="dataset.render.mode")
max_pages = r4.number_input("Max pages", value=8, key="dataset.render.max_pages")
errors.slot("font", "font_size", "mode", "max_pages")
r5, r6, r7, r8 = st.columns(4)
page_width = r5.number_input("Page width", value=1024, step=64, key="dataset.render.page_width")
page_height = r6.number_input("Page height", value=1448, step=64, key="dataset.render.page_height")
margin = r7.number_input("Margin", value=48, key="dataset.render.margin")
line_spacing = r8.number_input("Line spacing", value=1.4, step=0.1, key="dataset.render.line_spacing")
errors.slot("page_width", "page_height", "margin", "line_spacing", "text_color")

problems: list[tuple[str, str]] = []  # render and dataset settings checked together: every problem at once
try:
    render = RenderConfig(font=font, font_size=int(font_size), mode=render_mode, max_pages=int(max_pages),
                          page_width=int(page_width), page_height=int(page_height), margin=int(margin),
                          line_spacing=float(line_spacing))
except ConfigError as error:
    problems += error.problems
    render = RenderConfig()
try:
    dataset_config = DatasetConfig(
        source=source, language=language, text_column=text_column.strip(), summary_column=summary_column.strip(),
        id_column=id_column.strip(), instruction=instruction.strip(), limit=int(limit),
        min_text_chars=int(min_text), max_text_chars=int(max_text), seed=int(seed),
        validation_fraction=float(validation), test_fraction=float(test), workers=int(workers), render=render)
except ConfigError as error:
    problems += error.problems
if problems:
    errors.show(ConfigError(problems, "dataset settings"))
    st.stop()

# -- preview: table and first page ------------------------------------------------------------------
fields = {k: v for k, v in vars(dataset_config).items() if k != "render"}
try:
    rows, columns, counts, warnings = preview(json.dumps(fields, default=str), stamp)
except DeepSynthError as error:
    show_error(error)
    st.stop()
st.caption(f"Columns used: text ← `{columns['text']}`, summary ← `{columns['summary']}`, "
           f"id ← `{columns['id'] or 'row number'}` · preview of the first {len(rows)} documents")
for warning in warnings:
    st.warning(warning)
table, page = st.columns([3, 2])
table.dataframe(rows, width="stretch", height=420, key="dataset.preview_table")
png, n_pages, render_warnings = datasets.render_preview(datasets.render_key(render), rows[0]["text"],
                                                        dataset_config.instruction)
page.container(border=True).image(png, caption=f"{rows[0]['id']}: page 1 of {n_pages}", width="stretch",
                                  output_format="PNG")
for warning in render_warnings:
    page.warning(warning)

# -- 4. generate ------------------------------------------------------------------------------------
st.subheader("4 · Generate")
default_name = f"{source.split('/')[-1].split('.')[0].removeprefix('hf:') or 'dataset'}-{time.strftime('%Y%m%d-%H%M')}"
name = st.text_input("Dataset name", value=default_name, key="dataset.name")
overwrite = st.checkbox("Replace an existing dataset of that name", key="dataset.overwrite")
if not NAME.match(name):
    st.error("Use letters, digits, '.', '_' and '-' (no spaces or slashes), starting with a letter or digit.")
    st.stop()
out_dir = config.datasets / name
if st.button("Generate dataset", type="primary", key="dataset.generate"):
    bar = st.progress(0.0, text="reading documents…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"rendered {done} / {total} documents")

    try:
        pool = cached.render_pool(dataset_config.workers) if dataset_config.workers != 1 else None
        written = build_dataset(dataset_config, out_dir, progress=progress, overwrite=overwrite, pool=pool)
    except DeepSynthError as error:
        bar.empty()
        show_error(error)
        st.stop()
    bar.empty()
    datasets.list_datasets.clear()
    built = next(d for d in datasets.list_datasets(str(config.datasets)) if d.path == str(written))
    c = built.metadata["counts"]
    st.success(f"Wrote `{written}`: {c['kept']} documents ({c['train']} train, {c['validation']} validation, "
               f"{c['test']} test), {c['pages']} pages.")
    for warning in built.metadata.get("warnings", []):
        st.warning(warning)
