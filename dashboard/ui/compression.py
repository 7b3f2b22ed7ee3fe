"""Summary quality against compression ratio for the runs of a render sweep: one point per run,
labelled by its render setting, ROUGE-L with its interval as error bars when the runs logged one.

`show(runs)` is the block the Compare page draws when `is_render_sweep(runs)`; `chart(runs)` is
the plotly figure alone; `table_view(frame)` the table (`deepsynth.sweeps.compression_table`).
"""

from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go
import streamlit as st

from deepsynth.sweeps.compression import compression_table, is_render_sweep

__all__ = ["chart", "is_render_sweep", "show", "table_view"]


def _present(value: Any) -> bool:
    return value is not None and value == value  # not None, not NaN


def chart(runs: Sequence[Any]) -> Any:
    """A plotly figure: x = compression ratio (text tokens / tokens read), y = ROUGE-L."""
    table = compression_table(runs)
    table = table[table["rougeL"].map(_present)]
    with_interval = table["rougeL_lo"].map(_present) & table["rougeL_hi"].map(_present)
    error = None
    if with_interval.any():
        error = dict(type="data", symmetric=False, thickness=1.5, width=6,
                     array=(table["rougeL_hi"] - table["rougeL"]).where(with_interval, 0).tolist(),
                     arrayminus=(table["rougeL"] - table["rougeL_lo"]).where(with_interval, 0).tolist())
    accuracy = table["reading_accuracy"].map(lambda v: f"{100 * v:.0f}%" if _present(v) else "—")
    figure = go.Figure(go.Scatter(
        x=table["ratio"], y=table["rougeL"], mode="markers+text", text=table["setting"], textposition="top right",
        error_y=error, marker=dict(size=11),
        customdata=list(zip(table["chars_per_page"].round(0), accuracy, table["docs"], table["run_name"])),
        hovertemplate=("%{text}<br>compression %{x:.2f}x · ROUGE-L %{y:.1f}<br>%{customdata[0]} characters per page"
                       " · reading %{customdata[1]}<br>%{customdata[2]} documents scored<br>%{customdata[3]}"
                       "<extra></extra>")))
    if len(table):  # room on the right for the labels of the most compressed settings
        low, high = float(table["ratio"].min()), float(table["ratio"].max())
        pad = (high - low) * 0.1 or 0.1 * high or 0.1
        figure.update_xaxes(range=[low - pad, high + 3 * pad])
    figure.update_layout(title="Summary quality against compression", height=420,
                         xaxis_title="compression ratio (document text tokens / tokens the decoder reads)",
                         yaxis_title="ROUGE-L (tuned)", margin=dict(l=10, r=10, t=50, b=10), showlegend=False)
    return figure


def table_view(frame: Any, key: str) -> None:
    """The compression table as a dataframe."""
    shown = frame.drop(columns=["run_id", "sweep"])
    st.dataframe(shown, hide_index=True, key=key, column_config={
        "ratio": st.column_config.NumberColumn("ratio", format="%.2fx"),
        "chars_per_page": st.column_config.NumberColumn("chars/page", format="%.0f"),
        "read_tokens_per_page": st.column_config.NumberColumn("read tokens/page", format="%.1f"),
        "reading_accuracy": st.column_config.NumberColumn("reading", format="percent"),
        **{name: st.column_config.NumberColumn(name, format="%.1f") for name in ("rougeL", "rougeL_lo", "rougeL_hi")},
        "docs": st.column_config.NumberColumn("docs", format="%d")})


def show(runs: Sequence[Any], key: str = "compare.compression") -> None:
    """The Compare page's block for the runs of a render sweep: the chart and its table."""
    st.subheader("Render sweep: compression vs summary quality")
    st.caption("Each point is one run: its render setting, how many document tokens per token the decoder read "
               "from the page (`compression/ratio`) and the tuned model's ROUGE-L (with its interval when logged).")
    st.plotly_chart(chart(runs), key=f"{key}.chart")
    table_view(compression_table(runs), key=f"{key}.table")
