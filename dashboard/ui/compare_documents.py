"""The Compare page's per-document view: held-out documents with the reference summary and every
chosen run's output and score (the task's primary metric), sorted by the question asked; the selected row shows the page
image(s) the model read (from the reference run's dataset folder, found by document id) and what
each run wrote for it.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import streamlit as st

from deepsynth.evaluation import per_document
from deepsynth.evaluation.keys import DATASET_TAG, LABELS
from deepsynth.tracking.compare import run_tables

MAX_PAGES_SHOWN = 4
REFERENCE_WORDS = {"summarize": "Reference summary", "transcribe": "Reference text", "qa": "Reference answer",
                   "extract": "Reference fields", "translate": "Reference translation"}
"""What the reference target is called, by task."""
ROW_HEIGHT, MAX_TABLE_HEIGHT = 35, 400  # st.dataframe's row height; the table scrolls beyond 10 rows


@st.cache_data(show_spinner=False, max_entries=8)
def _document_index(path: str, created: str, _loaded: Any) -> dict[str, tuple[str, int]]:
    return per_document.document_index(_loaded)


def _dataset(run: Any) -> tuple[Any, dict[str, tuple[str, int]]] | tuple[None, str]:
    """(loaded dataset, id index) of the run's dataset folder, or (None, why not)."""
    from deepsynth.data import read_metadata
    from deepsynth.errors import InputError
    from ui.datasets import load

    path = run.tags.get(DATASET_TAG)
    if not path:
        return None, f"{run_tables.run_label(run)} does not name its dataset (tag {DATASET_TAG})"
    if not Path(path).is_dir():
        return None, f"its dataset folder {path} is not on this machine"
    try:
        created = read_metadata(path).get("created", "")
        loaded = load(path, created)
    except InputError as error:
        return None, str(error)
    return loaded, _document_index(path, created, loaded)


def table_for(comparison: Any, order: str) -> Any:
    """The joined per-document table (None when the reference run logged no predictions), with
    the reference run's best baseline beside the runs."""
    best = run_tables.best_baseline(comparison.reference)
    return comparison.documents(order, extra_models=(best[0],) if best else ())


def view(comparison: Any) -> Any:
    """The per-document section; returns the joined table (for the export) or None."""
    st.subheader("Document by document")
    order = st.radio("Sort by", per_document.ORDERS, horizontal=True, key="compare.doc_order",
                     help="disagreement: best minus worst run on the document; gain / loss: the other runs "
                          "minus the reference run")
    joined = table_for(comparison, order)
    if joined is None:
        st.info(f"{run_tables.run_label(comparison.reference)} logged no eval/predictions.csv (it was not "
                "evaluated, or before per-document outputs were kept): choose another reference run.")
        return None
    missing = [run_tables.run_label(r) for r in comparison.runs if comparison.predictions.get(r.run_id) is None]
    if missing:
        st.caption(f"Without per-document outputs (left out): {', '.join(missing)}.")
    other_metric = {run_tables.run_label(r): r for r in comparison.runs
                    if comparison.predictions.get(r.run_id) is not None and run_tables.run_metric(r) != comparison.metric}
    if other_metric:
        st.caption(f"Left out, ranked by another metric than the reference run's {comparison.metric_label}: "
                   + ", ".join(f"{label} ({run_tables.metric_words(run)})" for label, run in other_metric.items()) + ".")
    other_documents = {label: n for label, n in joined.left_out.items() if label not in other_metric}
    if other_documents:
        st.caption(f"Left out, scored on other documents than the reference run's {len(joined.table)}: "
                   + ", ".join(f"{label} ({n} documents)" for label, n in other_documents.items()) + ".")
    table = joined.table.reset_index(drop=True)
    score_label = joined.score_label  # the task's primary metric (ROUGE-L, CER, ANLS...)
    score_columns = [c for c in table.columns if c.endswith(f"· {score_label}")]
    # a score column sits right after its run's output column: the metric's name is enough (full name on hover)
    config: dict[str, Any] = {c: st.column_config.NumberColumn(score_label, help=c, format="%.1f", width="small")
                              for c in score_columns}
    config.update({c: st.column_config.TextColumn(c, width="medium") for c in table.columns
                   if c.endswith(f"· {per_document.OUTPUT}") or c == "reference"})
    config.update({c: st.column_config.NumberColumn(c, format="%+.1f" if c != "spread" else "%.1f", width="small")
                   for c in ("spread", "best gain", "worst loss")})
    event = st.dataframe(table, hide_index=True, key="compare.documents", on_select="rerun",
                         selection_mode="single-row", column_config=config,
                         height=min(MAX_TABLE_HEIGHT, ROW_HEIGHT * (len(table) + 1) + 3))
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    index = rows[0] if rows and rows[0] < len(table) else 0
    st.caption("Select a row to see its page and every output below." + ("" if rows else " Showing the first row."))
    if len(table):
        detail(comparison, joined, table.iloc[index])
    return joined


def detail(comparison: Any, joined: Any, row: Any) -> None:
    doc_id = row["id"]
    loaded, found = _dataset(comparison.reference)
    document = per_document.find_document(loaded, doc_id, found) if loaded is not None else None
    where = f" · {document['split']} split" if document else ""
    st.markdown(f"#### {html.escape(str(doc_id))}{where}")
    left, right = st.columns([2, 3])
    with left:
        if loaded is None:
            st.caption(f"No page image: {found}.")
        elif document is None:
            st.caption(f"No page image: document {doc_id!r} is not in {comparison.reference.tags.get(DATASET_TAG)} "
                       "(the folder was rebuilt with other documents).")
        else:
            pages = document["pages"] or [document["image"]]
            count = len(pages)
            shown = pages[:MAX_PAGES_SHOWN]
            st.image(shown, width="stretch", output_format="PNG",
                     caption=[f"{document['id']} · page {i + 1} of {count}" for i in range(len(shown))])
    with right:
        what = REFERENCE_WORDS.get(run_tables.run_task(comparison.reference), "Reference")
        st.markdown(f"**{what}**: {html.escape(row['reference'])}")
        colors = {run_tables.run_label(r): comparison.colors[r.run_id] for r in comparison.runs}
        lines = []
        for label in joined.labels:
            score = row[per_document.score_column(label, joined.score_label)]
            output = row[per_document.output_column(label)] or "(empty)"
            chip = f"<span style='color:{colors.get(label, '#444')};font-size:1.2em'>●</span>"
            tag = " (reference)" if label == joined.reference else ""
            lines.append(f"{chip} <b>{html.escape(label)}</b>{tag} · {joined.score_label} {score:.1f}<br>{html.escape(output)}")
        for name, model in joined.extras.items():
            score = row[per_document.score_column(name, joined.score_label)]
            lines.append(f"<span style='color:#444'>◇</span> <b>baseline {html.escape(LABELS.get(model, model))}</b> "
                         f"(no training) · {joined.score_label} {score:.1f}<br>{html.escape(row[per_document.output_column(name)])}")
        st.markdown("<br><br>".join(lines), unsafe_allow_html=True)
        if document is not None:
            with st.expander("Document text"):
                st.text(document["text"])
