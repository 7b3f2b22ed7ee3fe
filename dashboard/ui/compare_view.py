"""The Compare page's sections: choosing runs and a reference, scores with intervals against the
baselines, paired differences, curves beside the params that differ, memory, export.

Every table and interval comes from `deepsynth.tracking.compare.runs` (the library); this module
only lays them out. Per-document outputs (`eval/predictions.csv`) are read once per run and cached.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from deepsynth.tracking.compare import run_tables
from deepsynth.tracking.queries import RUN_STATUSES, metric_keys
from deepsynth.sweeps.parent_run import trained_runs
from deepsynth.training.config import SWEEP_TAG
from ui import cached
from ui.widgets import human_bytes, run_label, run_link, show_error

MAX_SWEEP_RUNS = 50  # a linked sweep preselects all its runs, up to this many
PREDICTIONS_TTL_S = 60  # a finished run's predictions never change; a running one gains them once


@st.cache_data(ttl=PREDICTIONS_TTL_S, show_spinner=False, max_entries=512)
def predictions(uri: str, run_id: str, _run: Any) -> Any:
    """A run's per-document outputs (None when it logged none); keyed by store and run id."""
    from deepsynth.tracking.queries import run_predictions

    return run_predictions(_run, uri)


@st.cache_data(ttl=30, show_spinner=False)
def mlflow_ui_base(tracking_uri: str, ui_url: str) -> str | None:
    """Where the MLflow UI is known to answer: an http(s) tracking server is its own UI; else the
    sidebar's MLflow UI address if its health check answers (within 0.5 s). None: no links."""
    import urllib.request

    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    if not ui_url.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{ui_url.rstrip('/')}/health", timeout=0.5) as answer:
            return ui_url.rstrip("/") if answer.status == 200 else None
    except OSError:
        return None


def pick_runs(uri: str) -> tuple[list[Any], list[Any]]:
    """Filters and the run picker; returns (every run matching the filters, the chosen runs).
    Stops the page with a message when there is nothing to compare."""
    try:
        experiments = cached.experiments(uri)
    except Exception as error:  # an unreachable server or a bad URI: say so, keep the page usable
        show_error(RuntimeError(f"cannot read the tracking store {uri}: {error}"))
        st.stop()
    linked_sweep = st.query_params.get("sweep")  # the Train page's "Compare the runs of <sweep>"
    if linked_sweep and st.session_state.get("compare.linked_sweep") != linked_sweep:
        st.session_state["compare.linked_sweep"] = linked_sweep
        st.session_state["compare.tags"] = f"{SWEEP_TAG}={linked_sweep}"
        st.session_state.pop("compare.runs", None)  # the sweep's runs, not an earlier choice
    f1, f2, f3 = st.columns([2, 2, 3])
    names = f1.multiselect("Experiments", [e.name for e in experiments], key="compare.experiments",
                           placeholder="all experiments")
    statuses = f2.multiselect("Status", RUN_STATUSES, key="compare.statuses", placeholder="any status")
    tag_text = f3.text_input("Tags (key=value, …)", key="compare.tags", placeholder="deepsynth.sweep=lr-sweep-1")
    try:
        tag_filter = run_tables.tags_filter(run_tables.parse_tag_filter(tag_text))
    except ValueError as error:
        f3.error(str(error))
        st.stop()
    runs = cached.runs(uri, tuple(names) or None, tuple(statuses), tag_filter)
    if not runs:
        st.info("No runs match. Train one on the **Train** page, or widen the filters.")
        st.stop()
    by_id = {run.run_id: run for run in runs}
    one_sweep = SWEEP_TAG in run_tables.parse_tag_filter(tag_text)  # a sweep's runs belong together
    limit = MAX_SWEEP_RUNS if one_sweep else 5
    trained = [run.run_id for run in trained_runs(runs)]  # a sweep's parent run trains nothing
    default = ([rid for rid in trained if by_id[rid].status == "FINISHED"][:limit] or trained[:limit]
               or list(by_id)[:limit])
    # Keep the choices that still match the filters; when none do (a filter changed), start from the
    # newest finished runs again rather than from an empty selection.
    kept = [rid for rid in st.session_state.get("compare.runs", []) if rid in by_id]
    st.session_state["compare.runs"] = kept or default
    chosen_ids = st.multiselect(f"Runs ({len(runs)} found)", list(by_id), key="compare.runs",
                                format_func=lambda rid: run_label(by_id[rid]))
    if not chosen_ids:
        st.info("Choose at least one run.")
        st.stop()
    return runs, [by_id[rid] for rid in chosen_ids]


def pick_reference(chosen: list[Any]) -> Any:
    by_id = {run.run_id: run for run in chosen}
    if st.session_state.get("compare.reference") not in by_id:
        st.session_state["compare.reference"] = run_tables.default_reference(chosen).run_id
    reference = st.selectbox("Reference run (the others are measured against it)", list(by_id),
                             key="compare.reference", format_func=lambda rid: run_label(by_id[rid]))
    return by_id[reference]


def build(uri: str, chosen: list[Any], reference: Any) -> Any:
    from deepsynth.tracking.compare.runs import compare_runs

    found = {run.run_id: predictions(uri, run.run_id, run) for run in chosen}
    return compare_runs(chosen, reference.run_id, found)


def _interval(low: Any, high: Any, signed: bool = False) -> str:
    if low is None or high is None or low != low or high != high:
        return ""
    return f"[{low:+.1f}, {high:+.1f}]" if signed else f"[{low:.1f}, {high:.1f}]"


def notes(comparison: Any) -> None:
    """Everything that limits the comparison in ONE message: a headline, then a line per kind of
    problem (the library groups runs; never a banner per run)."""
    if not comparison.notes:
        return
    count = len(comparison.notes)
    headline = ("Read the scores below with this in mind:" if count == 1
                else f"{count} things limit this comparison:")
    st.warning(headline + "\n" + "\n".join(f"- {note}" for note in comparison.notes), icon=":material/warning:")


def scores(comparison: Any, links: str | None) -> None:
    """The answer first: what limits the comparison, the score chart, the paired differences."""
    from deepsynth.tracking.compare.charts import delta_chart

    metric = comparison.metric_label
    better = "lower" if comparison.direction == "lower" else "higher"
    st.subheader(f"Which run has the {'lower' if better == 'lower' else 'higher'} {metric}, and is the difference real?")
    notes(comparison)
    left, right = st.columns(2)
    score_figure = comparison.score_figure()
    left.plotly_chart(score_figure, key="compare.score_chart")
    paired = comparison.paired
    if len(comparison.runs) < 2:
        right.caption("Choose two runs or more to see differences against the reference run.")
    elif comparison.predictions.get(comparison.reference.run_id) is None:
        right.info(f"{run_label_of(comparison.reference)} logged no per-document predictions "
                   "(eval/predictions.csv): choose an evaluated run as the reference to see paired differences.")
    elif paired[run_tables.DELTA].notna().any():
        right.plotly_chart(delta_chart(paired, comparison.colors, run_label_of(comparison.reference),
                                       comparison.metric_label, comparison.direction,
                                       height=score_figure.layout.height),  # side by side: one height
                           key="compare.delta_chart")
    else:
        right.info("No run can be compared document by document with the reference run: "
                   + "; ".join(v for v in paired["verdict"] if v))
    table = comparison.scores
    first_baseline, last_baseline = list(table.columns).index("high") + 1, list(table.columns).index("best baseline")
    baselines = list(table.columns[first_baseline:last_baseline])
    siblings = list(table.columns[list(table.columns).index("vs best high") + 1:list(table.columns).index("note")])
    shown = table.assign(**{"95% CI": [_interval(lo, hi) for lo, hi in zip(table["low"], table["high"])],
                            "best baseline CI": [_interval(lo, hi, True) for lo, hi
                                                 in zip(table["vs best low"], table["vs best high"])]})
    shown = shown.rename(columns={run_tables.SCORE: metric})
    columns = ["run", "split", "docs", metric, "95% CI", *baselines, "best baseline", "vs best baseline",
               "best baseline CI", *siblings, "note"]
    always = ("run", "split", "docs", metric, "95% CI")  # blank here says something (not recorded)
    columns = [c for c in columns if c in always or _has_values(shown[c])]  # no column of blanks
    formats = {**{c: "{:.1f}" for c in (metric, *baselines, *siblings)}, "vs best baseline": "{:+.1f}",
               "docs": "{:.0f}"}
    config: dict[str, Any] = {c: _number_column(c) for c in (metric, *baselines, *siblings)}
    config["vs best baseline"] = _number_column(
        "tuned − best baseline",
        help="paired over the run's documents" + ("; below 0 is better (an error rate)" if better == "lower" else ""))
    config["docs"] = _number_column("docs", help="documents behind every score in the row")
    config["note"] = st.column_config.TextColumn("note", width="large")
    if links:
        shown["MLflow"] = [f"{links}/#/experiments/{r.experiment_id}/runs/{r.run_id}" for r in comparison.runs]
        columns.append("MLflow")
        config["MLflow"] = st.column_config.LinkColumn("MLflow", display_text="open ↗")
    st.dataframe(blank_missing(shown[columns], formats), hide_index=True, key="compare.scores", column_config=config)
    if len(comparison.runs) >= 2 and comparison.predictions.get(comparison.reference.run_id) is not None:
        st.markdown(f"**Against the reference run** {run_label_of(comparison.reference)} "
                    "(paired over the same documents)")
        delta = f"Δ {metric}"
        compared = paired[paired[run_tables.DELTA].notna()]
        # runs that cannot be paired are named under the table, not as rows of blanks with a long verdict
        apart = paired[paired[run_tables.DELTA].isna()]
        if len(compared):
            shown_pairs = compared.assign(
                CI=[_interval(lo, hi, True) for lo, hi in zip(compared["low"], compared["high"])],
                **{"won / lost / tied": [f"{w:.0f} / {l:.0f} / {t:.0f}" for w, l, t
                                         in zip(compared["wins"], compared["losses"], compared["ties"])]})
            shown_pairs = shown_pairs.rename(columns={run_tables.DELTA: delta})
            st.dataframe(blank_missing(shown_pairs[["run", "verdict", delta, "CI", "docs", "won / lost / tied"]],
                                       {delta: "{:+.1f}", "docs": "{:.0f}"}),
                         hide_index=True, key="compare.paired", column_config={
                             "run": st.column_config.TextColumn("run", width="medium"),
                             "verdict": st.column_config.TextColumn("verdict", width="medium"),
                             delta: _number_column(delta),
                             "CI": st.column_config.TextColumn("95% CI"),
                             "docs": _number_column("docs"),
                             "won / lost / tied": st.column_config.TextColumn(
                                 "won / lost / tied", help="documents where the run scored better / worse / the same "
                                                           f"({'lower' if better == 'lower' else 'higher'} is better)")})
        if len(apart):
            st.caption("Not paired with the reference run: "
                       + "; ".join(f"{run} ({verdict.removeprefix('not comparable: ')})"
                                   for run, verdict in zip(apart["run"], apart["verdict"])) + ".")
    if not links:
        st.caption("Links to the MLflow UI appear when the tracking URI is an http(s) server, or when the "
                   "sidebar's MLflow UI address answers (`deepsynth server`).")


def blank_missing(frame: Any, formats: dict[str, str]) -> Any:
    """`frame` for st.dataframe with the `formats` columns ({column: "{:.1f}"}) as text: a missing
    value is a blank cell. st.dataframe draws a grey "None" in any empty cell of a number column,
    whatever a Styler or a format says, so these columns go as right-aligned text
    (`_number_column`); the numbers stay in the export."""
    shown = frame.copy()
    for column, pattern in formats.items():
        if column in shown.columns:
            shown[column] = shown[column].map(lambda v: "" if v is None or v != v else pattern.format(v))
    return shown


def _number_column(label: str, help: str | None = None) -> Any:
    return st.column_config.TextColumn(label, help=help, alignment="right")


def _has_values(column: Any) -> bool:
    return bool(column.map(lambda v: v is not None and v == v and v != "").any())


def run_label_of(run: Any) -> str:
    return run_tables.run_label(run)


def curves_and_params(uri: str, comparison: Any) -> None:
    """How the runs trained, beside what was different about them."""
    from deepsynth.tracking.compare.charts import curve_chart

    st.subheader("How they trained, and what differs")
    step_keys = [k for k in metric_keys(comparison.runs) if k.startswith("train/")]
    default = step_keys.index("train/loss") if "train/loss" in step_keys else 0
    metric = st.selectbox("Curve", step_keys, key="compare.metric", index=default) if step_keys else None
    if not metric:
        st.caption("None of these runs logged training curves (train/...).")
    else:
        history = cached.histories(uri, tuple(r.run_id for r in comparison.runs), (metric,))
        if history.empty:
            st.caption(f"No run logged {metric}.")
        else:
            st.plotly_chart(curve_chart(history, comparison.labels, comparison.colors, metric), key="compare.curve")
    st.markdown("**Params that differ**")
    differing = run_tables.differing_params(comparison.runs)
    if len(comparison.runs) < 2:
        st.caption("Choose two runs or more to see what differs.")
    elif differing.empty:
        st.caption("The chosen runs have identical params.")
    else:
        # one row per run, one column per param: every run is visible at once (runs as columns
        # showed one or two runs and hid the rest off the table's right edge)
        by_run = differing.T.rename_axis("run").reset_index()
        st.dataframe(by_run, hide_index=True, key="compare.params",
                     column_config={"run": st.column_config.TextColumn("run", pinned=True)})
    failed = [run for run in comparison.runs if run.error]
    if failed:
        st.error(f"{len(failed)} of the chosen runs failed:\n"
                 + "\n".join(f"- {run_tables.run_label(run)}: {run.error}" for run in failed))


def memory(chosen: list[Any]) -> None:
    with st.expander("Memory: estimate vs measured", expanded=False):
        table = run_tables.memory_comparison(chosen)
        if table[["estimated_bytes", "measured_bytes"]].isna().all().all():
            st.caption("None of these runs logged memory/estimated_bytes or memory/measured_peak_bytes.")
            return
        shown = table.assign(estimated=table["estimated_bytes"].map(human_bytes),
                             measured=table["measured_bytes"].map(human_bytes))
        st.dataframe(blank_missing(shown[["run", "estimated", "measured", "error_percent"]], {"error_percent": "{:+.1f}"}),
                     hide_index=True, key="compare.memory",
                     column_config={"error_percent": _number_column("error %")})


def export(comparison: Any, documents: Any) -> None:
    """The comparison's tables as CSV (one ZIP) and a self-contained HTML report, built on click."""
    from deepsynth.tracking.compare.report import html_report, tables_zip

    tables = comparison.tables()
    if documents is not None:
        tables["documents"] = documents.table

    def report() -> str:
        from deepsynth.tracking.compare.charts import delta_chart

        figures = [("Scores", comparison.score_figure())]
        if comparison.paired[run_tables.DELTA].notna().any():
            figures.append(("Against the reference run", delta_chart(comparison.paired, comparison.colors,
                                                                     run_label_of(comparison.reference),
                                                                     comparison.metric_label, comparison.direction)))
        return html_report(f"DeepSynth comparison: {len(comparison.runs)} runs", comparison.notes, figures,
                           [(name.capitalize(), frame) for name, frame in tables.items()])

    st.subheader("Export")
    left, right, _ = st.columns([1, 1, 3])
    left.download_button("Tables (CSV, zip)", lambda: tables_zip(tables), file_name="deepsynth-comparison.zip",
                         mime="application/zip", key="compare.export_csv", on_click="ignore")
    right.download_button("Report (HTML)", report, file_name="deepsynth-comparison.html", mime="text/html",
                          key="compare.export_html", on_click="ignore")


def all_final_metrics(chosen: list[Any], links: str | None) -> None:
    with st.expander("Every final metric", expanded=False):
        table = run_tables.final_metrics(chosen)
        numbers = [k for k in table.columns if "/" in k]
        table = blank_missing(table, {k: "{:.4g}" for k in numbers})
        config = {k: _number_column(k) for k in numbers}
        if links:
            table["MLflow"] = [run_link(links, run) for run in chosen]
            config["MLflow"] = st.column_config.LinkColumn("MLflow", display_text="open ↗")
        st.dataframe(table, hide_index=True, key="compare.metrics", column_config=config)
