"""Compare: pick runs from MLflow, overlay their curves, see which params differ and how they scored."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from deepsynth.tracking import compare
from deepsynth.tracking.queries import RUN_STATUSES, metric_keys
from ui import cached, settings
from ui.widgets import human_bytes, run_label, run_link, show_error

config = settings.load()
st.title("Compare runs")

# -- which runs -------------------------------------------------------------------------------------
try:
    experiments = cached.experiments(config.uri)
except Exception as error:  # an unreachable server or a bad URI: say so, keep the page usable
    show_error(RuntimeError(f"cannot read the tracking store {config.uri}: {error}"))
    st.stop()
f1, f2, f3 = st.columns([2, 2, 3])
names = f1.multiselect("Experiments", [e.name for e in experiments], key="compare.experiments",
                       placeholder="all experiments")
statuses = f2.multiselect("Status", RUN_STATUSES, key="compare.statuses", placeholder="any status")
tag_text = f3.text_input("Tags (key=value, …)", key="compare.tags", placeholder="deepsynth.preset=standard")
try:
    tag_filter = compare.tags_filter(compare.parse_tag_filter(tag_text))
except ValueError as error:
    f3.error(str(error))
    st.stop()
runs = cached.runs(config.uri, tuple(names) or None, tuple(statuses), tag_filter)
if not runs:
    st.info("No runs match. Train one on the **Train** page, or widen the filters.")
    st.stop()
by_id = {run.run_id: run for run in runs}
default = [run.run_id for run in runs if run.status == "FINISHED"][:5] or list(by_id)[:5]
# Keep the choices that still match the filters; when none do (a filter changed), start from the
# newest finished runs again rather than from an empty selection.
kept = [rid for rid in st.session_state.get("compare.runs", []) if rid in by_id]
st.session_state["compare.runs"] = kept or default
chosen_ids = st.multiselect(f"Runs ({len(runs)} found)", list(by_id), key="compare.runs",
                            format_func=lambda rid: run_label(by_id[rid]))
chosen = [by_id[rid] for rid in chosen_ids]
if not chosen:
    st.info("Choose at least one run.")
    st.stop()

# -- curves -----------------------------------------------------------------------------------------
keys = metric_keys(chosen)
step_keys = [k for k in keys if k.startswith("train/")] or keys
metric = st.selectbox("Curve", step_keys, index=step_keys.index("train/loss") if "train/loss" in step_keys else 0,
                      key="compare.metric") if step_keys else None
if metric:
    history = cached.histories(config.uri, tuple(chosen_ids), (metric,))
    if history.empty:
        st.caption(f"No run logged {metric}.")
    else:
        labels = {run.run_id: compare.run_label(run) for run in chosen}
        history = history.assign(run=history["run_id"].map(labels))
        figure = px.line(history, x="step", y="value", color="run", labels={"value": metric},
                         title=f"{metric} by step")
        figure.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), legend_title_text="")
        st.plotly_chart(figure, key="compare.curve")

# -- tables -----------------------------------------------------------------------------------------
st.subheader("Final metrics")
metrics = compare.final_metrics(chosen)
metrics["MLflow"] = [run_link(config.mlflow_ui_url, by_id[rid]) for rid in metrics["run_id"]]
st.dataframe(metrics, hide_index=True, key="compare.metrics", column_config={
    "MLflow": st.column_config.LinkColumn("MLflow", display_text="open ↗"),
    **{k: st.column_config.NumberColumn(k, format="%.4g") for k in metrics.columns if "/" in k}})

st.subheader("Params that differ")
differing = compare.differing_params(chosen)
if len(chosen) < 2:
    st.caption("Choose two runs or more to see what differs.")
elif differing.empty:
    st.caption("The chosen runs have identical params.")
else:
    st.dataframe(differing, key="compare.params")

st.subheader("Memory: estimate vs measured")
memory = compare.memory_comparison(chosen)
if memory[["estimated_bytes", "measured_bytes"]].isna().all().all():
    st.caption("None of these runs logged memory/estimated_bytes or memory/measured_peak_bytes.")
else:
    shown = memory.assign(estimated=memory["estimated_bytes"].map(human_bytes),
                          measured=memory["measured_bytes"].map(human_bytes))
    st.dataframe(shown[["run", "estimated", "measured", "error_percent"]], hide_index=True, key="compare.memory",
                 column_config={"error_percent": st.column_config.NumberColumn("error %", format="%+.1f")})

failed = [run for run in chosen if run.error]
for run in failed:
    st.error(f"{compare.run_label(run)} failed: {run.error}")

# -- render sweeps: summary quality against compression (dashboard/ui/compression.py) --------------
from ui import compression  # noqa: E402  (kept with its block: one place to merge)

if compression.is_render_sweep(chosen):  # runs of a render sweep are selected
    compression.show(chosen)
