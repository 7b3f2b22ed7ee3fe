"""The Compare page's charts as plotly figures (shared with the HTML report): one colour per run
everywhere, scores with their intervals against the baselines, curves, and the sweep views.

Colours come from a qualitative palette (Tableau 10, then a 26-colour one), never shades of one
hue, and are assigned in the order the runs were chosen so a run keeps its colour across charts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

TABLEAU_10 = ("#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B", "#EECA3B", "#B279A2", "#FF9DA6",
              "#9D755D", "#BAB0AC")
BASELINE_STYLE = {"base (untouched)": "dot", "first-clause": "dash", "lead-k": "dashdot", "constant": "longdash"}
"""Line style of each reference line in the score chart (all dark grey: they are not runs)."""
HEIGHT_PER_RUN = 34


def run_colors(run_ids: Sequence[str]) -> dict[str, str]:
    """run id -> colour, distinct for up to 36 runs (then the palette repeats)."""
    palette = list(TABLEAU_10)
    if len(run_ids) > len(palette):
        from plotly.colors import qualitative  # not plotly.express: importing it took 0.5-1.2 s

        palette += list(qualitative.Alphabet)
    return {run_id: palette[index % len(palette)] for index, run_id in enumerate(run_ids)}


LABEL_WIDTH = 44
"""Axis labels longer than this keep their start and end (the run id) around an ellipsis: a chart
in half the page's width otherwise clips long run names (a sweep's are long)."""


def short_label(text: str, width: int = LABEL_WIDTH) -> str:
    """`render.font_size=14 render.m…-bf0f#4) (31843279)`: the start and the end of `text`."""
    if len(text) <= width:
        return text
    tail = min(18, width // 2)
    return f"{text[:width - tail - 1]}…{text[-tail:]}"


def _missing(value: Any) -> bool:
    return value is None or value != value  # None or NaN


GRID = "#E5ECF6"
PLAIN_LAYOUT = dict(plot_bgcolor="white", paper_bgcolor="white", font=dict(color="#2a3f5f"),
                    xaxis=dict(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID, automargin=True),
                    yaxis=dict(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID, automargin=True))
"""plotly_white's look set directly: assigning the `plotly_white` template deep-copies and validates
the whole template per figure (0.1-0.2 s each, 0.8 s the first time in a process), which made
the Compare page's first render slow; the dashboard re-themes charts anyway."""


def _layout(figure: Any, height: int, title: str) -> Any:
    figure.update_layout(height=height, title=title, margin=dict(l=10, r=10, t=50, b=10), legend_title_text="",
                         template=None, **PLAIN_LAYOUT)
    return figure


BASELINE_SYMBOL = {"base (untouched)": "circle-open", "first-clause": "diamond-open", "lead-k": "square-open",
                   "constant": "x-thin-open"}
"""Mark of each reference model when it is drawn on a run's own row (runs on other documents)."""
LEGEND_ROW_PX = 22
AXIS_TITLE_PX = 44


def score_chart(scores: Any, colors: Mapping[str, str], reference_lines: Mapping[str, float],
                reference_note: str = "", metric_label: str = "ROUGE-L", direction: str = "higher",
                run_baselines: Mapping[str, Mapping[str, float]] | None = None) -> Any:
    """The score of each run (`score` column: the metric named by `metric_label`), a dot with its
    95% interval as a bar and the document count in its label. The base model and baselines are
    vertical lines (`reference_lines`, scored on the documents every run shares; `reference_note`
    says which) or, given `run_baselines` (run id -> label -> score) for runs scored on different
    documents, grey marks on each run's own row: a baseline is only ever drawn beside runs scored
    on its documents. The axis says which way is better; the legend sits below the axis title."""
    import plotly.graph_objects as go

    from deepsynth.tracking.compare.run_tables import SCORE

    figure = go.Figure()
    shown = scores.dropna(subset=[SCORE])
    labels = {}
    for row in shown.to_dict("records"):
        docs = "?" if _missing(row["docs"]) else int(row["docs"])
        label = f"{short_label(row['run'])} · n={docs}"
        labels[row["run_id"]] = label
        has_ci = not _missing(row["low"]) and not _missing(row["high"])
        figure.add_trace(go.Scatter(
            x=[row[SCORE]], y=[label], mode="markers", name=row["run"], showlegend=False,
            marker=dict(size=12, color=colors.get(row["run_id"], "#333")),
            error_x=dict(type="data", symmetric=False, array=[(row["high"] - row[SCORE]) if has_ci else 0],
                         arrayminus=[(row[SCORE] - row["low"]) if has_ci else 0], thickness=2, width=6),
            hovertemplate=(f"{row['run']}<br>{metric_label} %{{x:.1f}}"
                           + (f" [{row['low']:.1f}, {row['high']:.1f}]" if has_ci else "")
                           + f"<br>{docs} documents<extra></extra>")))
    for name, value in reference_lines.items():  # in the legend, not as labels that collide at the top
        figure.add_shape(type="line", x0=value, x1=value, xref="x", y0=0, y1=1, yref="paper", showlegend=True,
                         name=f"{name} {value:.1f}", line=dict(dash=BASELINE_STYLE.get(name, "dash"), color="#444",
                                                               width=1.5))
    legend_entries = len(reference_lines)
    if run_baselines:
        names = list(dict.fromkeys(name for run_id in labels for name in run_baselines.get(run_id, {})))
        for name in names:
            rows = [(run_baselines[run_id][name], label) for run_id, label in labels.items()
                    if name in run_baselines.get(run_id, {})]
            figure.add_trace(go.Scatter(
                x=[x for x, _ in rows], y=[y for _, y in rows], mode="markers", name=name, showlegend=True,
                marker=dict(symbol=BASELINE_SYMBOL.get(name, "triangle-up-open"), size=10, color="#555",
                            line=dict(width=1.5)),
                hovertemplate=f"{name} %{{x:.1f}} on this run's documents<extra></extra>"))
        legend_entries += len(names)
    legend_rows = 1 + (legend_entries > 4) + (legend_entries > 8)
    bottom = AXIS_TITLE_PX + (LEGEND_ROW_PX * (legend_rows + bool(reference_note)) if legend_entries else 0)
    _layout(figure, 50 + max(150, HEIGHT_PER_RUN * len(shown) + 40) + bottom, f"{metric_label} per run, 95% interval")
    # the legend in the figure's bottom margin (container coordinates), under the axis title: a
    # legend placed in plot-relative coordinates lands on the axis title when the chart is short
    figure.update_layout(legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", xanchor="left", x=0,
                                     title=dict(text=f"{reference_note}:" if reference_note and legend_entries else "",
                                                side="top")),
                         margin=dict(l=10, r=30, t=50, b=bottom))
    figure.update_xaxes(title=f"{metric_label} (points{', lower is better' if direction == 'lower' else ''})")
    figure.update_yaxes(autorange="reversed")
    return figure


def empty_scores() -> Any:
    """A score table with no rows (what `score_chart` draws as an empty chart; warms plotly up)."""
    import pandas as pd

    from deepsynth.tracking.compare.run_tables import SCORE

    return pd.DataFrame(columns=["run", "run_id", "docs", SCORE, "low", "high"])


def _height(rows: int) -> int:
    """Tall enough for the axis, the legend under it and one row per run."""
    return max(300, 170 + HEIGHT_PER_RUN * max(1, rows))


def curve_chart(history: Any, labels: Mapping[str, str], colors: Mapping[str, str], metric: str) -> Any:
    """One line per run (`history`: run_id, step, value), in the run's colour."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for run_id, rows in history.groupby("run_id", sort=False):
        name = labels.get(run_id, run_id)
        mode = "lines" if len(rows) > 2 else "lines+markers"  # a line of one point draws nothing
        figure.add_trace(go.Scatter(x=rows["step"], y=rows["value"], mode=mode, name=short_label(name),
                                    line=dict(color=colors.get(run_id)),
                                    hovertemplate=f"{name}<br>step %{{x}}: %{{y:.4g}}<extra></extra>"))
    figure.update_xaxes(title="step")
    figure.update_yaxes(title=metric)
    _layout(figure, 380 + 22 * len(labels), f"{metric} by step")
    figure.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0))  # the plot keeps the width
    return figure


def parallel_chart(frame: Any, metric: str) -> Any:
    """Parallel coordinates: one line per run through each differing param, coloured by `metric`.
    Text params become numbered axes with their values as tick labels."""
    import plotly.graph_objects as go

    dimensions = []
    for column in frame.columns:
        if column in ("run", "run_id"):
            continue
        values = frame[column]
        if values.dtype.kind in "if":
            dimensions.append(dict(label=column, values=values))
        else:
            categories = sorted(values.astype(str).unique())
            codes = values.astype(str).map({c: i for i, c in enumerate(categories)})
            dimensions.append(dict(label=column, values=codes, tickvals=list(range(len(categories))),
                                   ticktext=[c[:18] for c in categories]))
    figure = go.Figure(go.Parcoords(dimensions=dimensions, line=dict(
        color=frame[metric], colorscale="Viridis", showscale=True, colorbar=dict(title=metric))))
    _layout(figure, 460, f"{len(frame)} runs: params that differ against {metric}")
    # axis names sit above the plot and tick labels left of each axis: room on every side
    figure.update_layout(margin=dict(l=70, r=40, t=100, b=30))
    return figure


def group_chart(frame: Any, group: str, metric: str) -> Any:
    """`metric` of every run, one box with its dots per value of tag `group`."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for index, (value, rows) in enumerate(frame.groupby(group, sort=True)):
        figure.add_trace(go.Box(y=rows[metric], name=str(value), boxpoints="all", jitter=0.4, pointpos=-1.6,
                                text=rows["run"], marker_color=TABLEAU_10[index % len(TABLEAU_10)],
                                hovertemplate="%{text}<br>%{y:.2f}<extra></extra>"))
    figure.update_layout(showlegend=False)
    figure.update_xaxes(title=group)
    figure.update_yaxes(title=metric)
    return _layout(figure, 360, f"{metric} by {group}")


def delta_chart(paired: Any, colors: Mapping[str, str], reference_label: str, metric_label: str = "ROUGE-L",
                direction: str = "higher", height: int | None = None) -> Any:
    """Each run minus the reference run (paired over the same documents): a dot with its 95%
    interval, a line at 0, and the documents won / lost in the label (won: better in the metric's
    direction; for an error rate a negative difference is the improvement, and the axis says so)."""
    import plotly.graph_objects as go

    from deepsynth.tracking.compare.run_tables import DELTA

    figure = go.Figure()
    shown = paired.dropna(subset=[DELTA])
    for row in shown.to_dict("records"):
        label = f"{short_label(row['run'])} · {int(row['wins'])} won / {int(row['losses'])} lost"
        figure.add_trace(go.Scatter(
            x=[row[DELTA]], y=[label], mode="markers", name=row["run"],
            marker=dict(size=12, color=colors.get(row["run_id"], "#333"), symbol="diamond"),
            error_x=dict(type="data", symmetric=False, array=[row["high"] - row[DELTA]],
                         arrayminus=[row[DELTA] - row["low"]], thickness=2, width=6),
            hovertemplate=(f"{row['run']}<br>Δ {metric_label} %{{x:+.1f}} [{row['low']:+.1f}, {row['high']:+.1f}]"
                           f"<br>{int(row['docs'])} documents: {int(row['wins'])} won, {int(row['losses'])} lost, "
                           f"{int(row['ties'])} tied<extra></extra>")))
    figure.add_vline(x=0, line_color="#444", line_width=1.5)
    # as tall as the score chart beside it (which also has a row for the reference run)
    _layout(figure, height or _height(len(paired) + 1),
            f"Δ {metric_label} vs {short_label(reference_label, 24)} (paired, 95%)")
    figure.update_layout(showlegend=False, margin=dict(l=10, r=30, t=50, b=10))
    better = "; below 0 is better" if direction == "lower" else ""
    figure.update_xaxes(title=f"{metric_label} points vs the reference{better}", zeroline=False)
    figure.update_yaxes(autorange="reversed")
    return figure
