"""The Compare page for many runs (a sweep): every run matching the filters as one line through the
params that differ, coloured by a metric (parallel coordinates), and the runs grouped by a tag
(`deepsynth.sweep` first when runs carry it)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from deepsynth.tracking.compare import run_tables
from deepsynth.tracking.compare.charts import group_chart, parallel_chart
from deepsynth.tracking.queries import metric_keys


def view(runs: list[Any]) -> None:
    if len(runs) < run_tables.SWEEP_MIN_RUNS:
        st.caption(f"With {run_tables.SWEEP_MIN_RUNS} runs or more matching the filters, a parallel-coordinates "
                   "chart of the params that differ and a grouping by tag appear here (filter by a sweep tag, "
                   f"e.g. `{run_tables.SWEEP_TAG}=NAME`).")
        return
    st.subheader(f"Many runs: what drives the score ({len(runs)} matching the filters)")
    keys = [k for k in metric_keys(runs) if k.startswith("eval/") or k.startswith("train/")]
    if not keys:
        st.caption("None of these runs logged an eval/ or train/ metric.")
        return
    default = run_tables.primary_key(runs)  # the runs' task metric (eval/rougeL, eval/cer...)
    default = default if default in keys else keys[0]
    left, right = st.columns(2)
    metric = left.selectbox("Metric", keys, index=keys.index(default), key="compare.sweep_metric")
    tags = run_tables.tag_keys(runs)
    group = right.selectbox("Group by tag", ["(none)"] + tags, key="compare.sweep_group",
                            index=1 if tags and tags[0] == run_tables.SWEEP_TAG else 0)
    frame = run_tables.sweep_frame(runs, metric)
    if len(frame) < 2:
        st.caption(f"Fewer than two runs logged {metric}.")
        return
    if frame.shape[1] <= 3:
        st.caption("These runs have the same params: nothing to draw across.")
    else:
        st.plotly_chart(parallel_chart(frame, metric), key="compare.parallel")
    if group != "(none)":
        grouped = run_tables.group_frame(runs, group, metric)
        chart, table = st.columns([3, 2])
        chart.plotly_chart(group_chart(grouped, group, metric), key="compare.group_chart")
        table.dataframe(run_tables.group_summary(grouped, group, metric), hide_index=True, key="compare.groups",
                        column_config={c: st.column_config.NumberColumn(c, format="%.2f")
                                       for c in ("mean", "best", "worst")})
