"""The Compare page's score charts keep long run names readable: labels are shortened around an
ellipsis, keeping the run id at the end, so runs of one sweep stay distinct rows."""

from __future__ import annotations

import pandas as pd

from deepsynth.tracking.compare.charts import LABEL_WIDTH, score_chart, short_label

SWEEP_RUNS = [f"render.font_size={size} render.mode={mode} (sweep-20261128-212405-bf0f#{n}) ({run_id})"
              for n, (size, mode, run_id) in enumerate([(22, "none", "20e3a994"), (22, "tiny", "ff0386ea"),
                                                         (14, "none", "f86bac73"), (14, "tiny", "31843279")], 1)]


def test_a_long_name_keeps_its_start_and_its_run_id_within_the_width():
    for name in SWEEP_RUNS:
        short = short_label(name)
        assert len(short) == LABEL_WIDTH and "…" in short
        assert short.startswith("render.font_size=") and short.endswith(name[-10:])
    assert short_label("rank16 (1a2b3c4d)") == "rank16 (1a2b3c4d)"  # short names unchanged


def test_the_score_chart_has_one_distinct_row_per_run_of_a_sweep():
    scores = pd.DataFrame({"run": SWEEP_RUNS, "run_id": [n[-9:-1] for n in SWEEP_RUNS], "score": [46.6, 32.4, 47.0, 1.2],
                           "low": [38.7, 25.8, 38.2, 0.0], "high": [54.7, 39.6, 55.0, 2.7], "docs": [48] * 4})
    figure = score_chart(scores, {}, {"first-clause": 47.0})
    rows = [trace.y[0] for trace in figure.data]
    assert len(set(rows)) == 4 and all(len(row) <= LABEL_WIDTH + len(" · n=48") for row in rows)
    assert [trace.name for trace in figure.data] == SWEEP_RUNS  # the full name stays in the hover/legend


def test_the_sweep_view_defaults_to_the_runs_task_metric():
    import types

    from deepsynth.tracking.compare.run_tables import primary_key

    def run(metric, tags):
        return types.SimpleNamespace(metrics={f"eval/{metric}": 1.0, "eval/rougeL": 2.0} if metric != "rougeL"
                                     else {"eval/rougeL": 2.0}, tags=tags)

    cer = {"deepsynth.task": "transcribe", "deepsynth.primary_metric": "cer"}
    assert primary_key([run("cer", cer), run("cer", cer), run("rougeL", {})]) == "eval/cer"
    assert primary_key([]) == "eval/rougeL"
