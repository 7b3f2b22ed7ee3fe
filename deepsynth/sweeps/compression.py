"""A render sweep's answer: how far the page can be compressed before the summary suffers.

`compression_table(runs)` is a pure function over run summaries (anything with `run_id`,
`run_name`, `metrics`, `tags`: `deepsynth.tracking.queries.RunSummary`): one row per run that
logged `compression/ratio`, labelled by the render settings that differ between the runs (from
the `deepsynth.render` tag the worker writes), with the compression ratio, what a page holds, and
ROUGE-L with its interval when the run logged one (`eval/rougeL_lo`, `eval/rougeL_hi`), and the
documents behind the score. `render_sweep_table(sweep_id)` reads a sweep's runs from MLflow.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from deepsynth.training.compression import PREFIX, RATIO
from deepsynth.training.config import SWEEP_TAG
from deepsynth.training.recorder import RENDER_TAG

COLUMNS = ("setting", "ratio", "chars_per_page", "read_tokens_per_page", "reading_accuracy", "rougeL",
           "rougeL_lo", "rougeL_hi", "docs", "run_id", "run_name", "sweep")
METRIC_COLUMNS = {"ratio": RATIO, "chars_per_page": f"{PREFIX}chars_per_page",
                  "read_tokens_per_page": f"{PREFIX}read_tokens_per_page",
                  "reading_accuracy": f"{PREFIX}reading_accuracy", "rougeL": "eval/rougeL",
                  "rougeL_lo": "eval/rougeL_lo", "rougeL_hi": "eval/rougeL_hi", "docs": "eval/docs"}


def _render(run: Any) -> dict[str, Any]:
    try:
        value = json.loads(run.tags.get(RENDER_TAG, "{}"))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def setting_labels(runs: Sequence[Any]) -> dict[str, str]:
    """run id -> `font_size=16 mode=tiny`: the render fields whose values differ between the runs
    (`default` when they all agree)."""
    renders = {run.run_id: _render(run) for run in runs}
    fields = sorted({name for render in renders.values() for name in render})
    differing = [name for name in fields if len({json.dumps(r.get(name)) for r in renders.values()}) > 1]
    return {run_id: " ".join(f"{name}={render.get(name)}" for name in differing) or "default"
            for run_id, render in renders.items()}


def is_render_sweep(runs: Sequence[Any]) -> bool:
    """Runs of one sweep (a `deepsynth.sweep` tag), at least two with compression metrics and
    different render settings: what the compression chart is for."""
    measured = [run for run in runs if RATIO in run.metrics and run.tags.get(SWEEP_TAG)]
    if len(measured) < 2:
        return False
    by_sweep: dict[str, list[Any]] = {}
    for run in measured:
        by_sweep.setdefault(run.tags[SWEEP_TAG], []).append(run)
    return any(len({run.tags.get(RENDER_TAG) for run in group}) > 1 for group in by_sweep.values())


def compression_table(runs: Sequence[Any]) -> Any:
    """A DataFrame, one row per run with `compression/ratio`, highest ratio first (`COLUMNS`;
    None where a run did not log a metric)."""
    import pandas as pd

    measured = [run for run in runs if RATIO in run.metrics]
    labels = setting_labels(measured)
    rows = []
    for run in measured:
        row: dict[str, Any] = {"setting": labels[run.run_id]}
        row.update({column: run.metrics.get(key) for column, key in METRIC_COLUMNS.items()})
        row.update(run_id=run.run_id, run_name=run.run_name, sweep=run.tags.get(SWEEP_TAG, ""))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values("ratio", ascending=False, kind="stable").reset_index(drop=True)


def render_sweep_table(sweep_id: str, uri: str | None = None) -> Any:
    """`compression_table` of a sweep's runs, read from the tracking store."""
    from deepsynth.tracking import queries
    from deepsynth.tracking.compare import run_tables

    runs = queries.list_runs(uri=uri, filter_string=run_tables.tags_filter({SWEEP_TAG: sweep_id}))
    return compression_table(runs)


def format_table(frame: Any) -> str:
    """The table as text for a terminal (`deepsynth demo --render-sweep`, `sweep --status`)."""
    def number(value: Any, digits: int) -> str:
        return "-" if value is None or value != value else f"{value:.{digits}f}"

    lines = [f"{'setting':<28} {'ratio':>6} {'chars/page':>10} {'read tok/page':>13} {'reading':>7} "
             f"{'ROUGE-L':>7} {'interval':>13} {'docs':>5}"]
    for row in frame.to_dict("records"):
        interval = (f"[{number(row['rougeL_lo'], 1)}, {number(row['rougeL_hi'], 1)}]"
                    if row["rougeL_lo"] is not None and row["rougeL_lo"] == row["rougeL_lo"] else "-")
        accuracy = "-" if row["reading_accuracy"] is None or row["reading_accuracy"] != row["reading_accuracy"] \
            else f"{100 * row['reading_accuracy']:.0f}%"
        docs = "-" if row["docs"] is None or row["docs"] != row["docs"] else f"{int(row['docs'])}"
        lines.append(f"{row['setting'][:28]:<28} {number(row['ratio'], 2):>6} {number(row['chars_per_page'], 0):>10} "
                     f"{number(row['read_tokens_per_page'], 1):>13} {accuracy:>7} {number(row['rougeL'], 1):>7} "
                     f"{interval:>13} {docs:>5}")
    return "\n".join(lines)
