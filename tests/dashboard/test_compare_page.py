"""Compare page: runs from the store; scores with intervals, document counts and baselines; paired
differences against a reference run; curves and differing params; the per-document view with the
page each document was read from; sweeps; export."""

import base64
import io
import json
import re
import zipfile

import numpy as np
from dashboard_testing import EVAL_EXPERIMENT, EXPERIMENT, texts


def _values(y):
    """Plotly 6+ serialises numeric arrays as {"dtype", "bdata"} (base64); older as lists."""
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
    return y


def _charts(app):
    """Every plotly chart on the page by its title."""
    specs = [json.loads(element.proto.spec) for element in app.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def test_curves_params_and_memory_of_runs_without_evaluation(open_page, store):
    app = open_page("compare")
    app.multiselect(key="compare.experiments").set_value([EXPERIMENT]).run()
    chosen = app.multiselect(key="compare.runs").value
    assert set(chosen) == set(store.finished)  # finished runs preselected, the failed one not

    charts = _charts(app)
    curves = {trace["name"]: trace["y"] for trace in charts["train/loss by step"]["data"]}
    assert sorted(curves) == sorted(f"rank{r} ({rid[:8]})" for r, rid in zip((8, 16, 32), store.finished))
    assert all(len(_values(y)) == 30 for y in curves.values())
    colors = [trace["line"]["color"] for trace in charts["train/loss by step"]["data"]]
    assert len(set(colors)) == 3  # one distinct colour per run

    scores = _by_columns(app, "95% CI", "docs").set_index("run")
    assert sorted(scores["ROUGE-L"].map(_number)) == [20.0, 21.0, 22.0]
    assert (scores["docs"] == "").all() and (scores["95% CI"] == "").all()  # blank cells, never "None"  # logged before either was recorded
    assert "No document count recorded for" in texts(app)

    differing = _by_columns(app, "run", "lora.rank")  # one row per run: every run visible at once
    assert list(differing.columns) == ["run", "lora.rank"]
    assert dict(zip(differing["run"], differing["lora.rank"])) == {
        f"rank{r} ({rid[:8]})": str(r) for r, rid in zip((8, 16, 32), store.finished)}

    memory = _by_columns(app, "error_percent").set_index("run")
    errors = sorted(memory["error_percent"].map(_number))
    assert errors == [round(-100 * x / (1 + x), 1) for x in (0.2, 0.1, 0.0)]
    # no MLflow UI answers for this sqlite store: no links that lead nowhere, and a word on how to get them
    assert "MLflow" not in scores.columns
    assert "Links to the MLflow UI appear when" in texts(app)


def test_status_and_tag_filters(open_page, store):
    app = open_page("compare")
    app.multiselect(key="compare.experiments").set_value([EXPERIMENT])
    app.multiselect(key="compare.statuses").set_value(["FAILED"]).run()
    assert len(app.multiselect(key="compare.runs").options) == 1
    assert app.multiselect(key="compare.runs").value == [store.failed]
    assert "loss became NaN at step 2" in texts(app)

    app.multiselect(key="compare.statuses").set_value([])
    app.text_input(key="compare.tags").set_value("deepsynth.preset=custom").run()
    assert len(app.multiselect(key="compare.runs").options) == 3

    app.text_input(key="compare.tags").set_value("no equals sign").run()
    assert "write tag filters as key=value" in app.error[0].value


def _by_columns(app, *columns):
    """The dataframe showing all of `columns` (st.dataframe keys are not exposed by AppTest)."""
    return next(d.value for d in app.dataframe if set(columns) <= set(d.value.columns))


def _number(text):
    """A number as the page shows it ("+66.7", "3", "" for none) -> float (NaN for a blank cell)."""
    return float(text) if text != "" else float("nan")


def _open_eval(open_page, eval_store, reference="a"):
    app = open_page("compare")
    app.multiselect(key="compare.experiments").set_value([EVAL_EXPERIMENT]).run()
    app.selectbox(key="compare.reference").set_value(eval_store[reference]).run()
    assert not app.exception, app.exception
    return app


def test_scores_show_intervals_document_counts_baselines_and_paired_differences(open_page, eval_store):
    app = _open_eval(open_page, eval_store)
    assert set(app.multiselect(key="compare.runs").value) == {eval_store[k] for k in "abc"}
    label = {k: f"eval-{k} ({eval_store[k][:8]})" for k in "abc"}

    scores = _by_columns(app, "95% CI", "docs").set_index("run")
    assert scores.loc[label["a"], "docs"] == "6" and scores.loc[label["c"], "docs"] == "2"
    assert scores.loc[label["a"], "ROUGE-L"] == "50.0" and scores.loc[label["a"], "95% CI"] == "[16.7, 83.3]"
    assert scores.loc[label["a"], "best baseline"] == "first-clause" and scores.loc[label["a"], "split"] == "test"
    assert "asked for 10 validation documents, the validation split holds 2" in scores.loc[label["c"], "note"]
    shown = texts(app)
    assert "Scored on different documents: " in shown and "2 validation documents" in shown
    # the interval's width as measured (a's [16.7, 83.3] on 6 documents), not a fixed rule on counts
    assert "Wide intervals: " in shown and f"{label['a']} ±33.3 on 6 documents" in shown
    assert "too wide to tell runs apart" not in shown
    assert f"Scored on very few documents: {label['c']} (2)" in shown  # its [100, 100] understates it
    assert len(app.warning) == 1  # one message for everything that limits the comparison

    chart = _charts(app)["ROUGE-L per run, 95% interval"]
    runs_drawn = [t for t in chart["data"] if not t["showlegend"]]
    assert sorted(t["y"][0] for t in runs_drawn) == sorted(
        [f"{label['a']} · n=6", f"{label['b']} · n=6", f"{label['c']} · n=2"])
    assert len({t["marker"]["color"] for t in runs_drawn}) == 3  # a colour of its own per run
    # c was scored on 2 other documents: no line from a's 6 documents drawn across its row; each
    # run's baselines sit on its own row instead (c logged none)
    assert not chart["layout"].get("shapes")
    assert chart["layout"]["legend"]["title"]["text"] == "base & baselines, each on its run's documents:"
    marks = {t["name"]: dict(zip(t["y"], _values(t["x"]))) for t in chart["data"] if t["showlegend"]}
    assert set(marks) == {"base (untouched)", "first-clause", "lead-k", "constant"}
    assert {y: round(x, 1) for y, x in marks["first-clause"].items()} == {
        f"{label[k]} · n=6": _number(scores.loc[label[k], "first-clause"]) for k in "ab"}
    assert chart["layout"]["legend"]["yref"] == "container"  # under the axis title, not over it

    app.multiselect(key="compare.runs").set_value([eval_store["a"], eval_store["b"]]).run()  # same documents
    chart = _charts(app)["ROUGE-L per run, 95% interval"]
    assert chart["layout"]["legend"]["title"]["text"] == "reference run's base & baselines (6 test docs):"
    lines = {shape["name"].rsplit(" ", 1)[0]: shape["x0"] for shape in chart["layout"]["shapes"]}
    assert set(lines) == {"base (untouched)", "first-clause", "lead-k", "constant"}
    assert round(lines["first-clause"], 1) == _number(scores.loc[label["a"], "first-clause"])
    app.multiselect(key="compare.runs").set_value([eval_store[k] for k in "abc"]).run()

    paired = _by_columns(app, "Δ ROUGE-L", "verdict").set_index("run")
    # per document a = [100, 100, 100, 0, 0, 0], b = [100, 0, 100, 0, 100, 100]
    assert paired.loc[label["b"], "Δ ROUGE-L"] == f"{100 * (4 - 3) / 6:+.1f}"
    assert paired.loc[label["b"], "won / lost / tied"] == "2 / 1 / 3"
    assert paired.loc[label["b"], "verdict"] == "no clear difference"  # 6 documents cannot tell
    assert label["c"] not in paired.index  # no row of blanks: named under the table instead
    assert (f"Not paired with the reference run: {label['c']} (other documents (2 validation vs 6 test, 0 shared))"
            in texts(app))
    delta = _charts(app)[f"Δ ROUGE-L vs {label['a']} (paired, 95%)"]
    assert [t["y"][0] for t in delta["data"]] == [f"{label['b']} · 2 won / 1 lost"]


def test_per_document_view_joins_on_id_sorts_and_shows_the_page_read(open_page, eval_store):
    app = _open_eval(open_page, eval_store)
    ids, a_out, b_out = eval_store["test_ids"], eval_store["a_out"], eval_store["b_out"]
    label_a, label_b = f"eval-a ({eval_store['a'][:8]})", f"eval-b ({eval_store['b'][:8]})"
    documents = _by_columns(app, "spread", "best gain")
    assert len(documents) == 6  # c was scored on other documents: left out, and said so
    assert "Left out, scored on other documents than the reference run's 6: eval-c" in texts(app)
    by_id = documents.set_index("id")
    for i, doc_id in enumerate(ids):  # joined on the id: each run's own output for that document
        assert by_id.loc[doc_id, f"{label_a} · output"] == a_out[i]
        assert by_id.loc[doc_id, f"{label_b} · output"] == b_out[i]
    assert f"{label_a} · first_clause · output" in documents.columns  # the best baseline beside them
    # largest disagreement first: the documents where one run is right and the other not
    assert list(documents["id"][:3]) == [ids[1], ids[4], ids[5]] and set(documents["spread"][:3]) == {100.0}

    image = app.get("image")[0]
    assert image.captions[0].startswith(f"{ids[1]} · page 1 of ")  # the first row's page, found by id
    assert f"#### {ids[1]} · test split" in texts(app)

    app.radio(key="compare.doc_order").set_value("biggest loss vs reference").run()
    assert _by_columns(app, "spread", "best gain")["id"].iloc[0] == ids[1]  # b lost document 1
    app.session_state["compare.documents"] = {"selection": {"rows": [3], "columns": [], "cells": []}}
    app.run()
    chosen_id = _by_columns(app, "spread", "best gain")["id"].iloc[3]
    assert app.get("image")[0].captions[0].startswith(f"{chosen_id} · page 1 of ")
    assert f"#### {chosen_id} · test split" in texts(app)


def test_many_runs_get_parallel_coordinates_and_grouping_by_sweep(open_page, store):
    from deepsynth.tracking.store import RunLogger

    for index in range(12):
        logger = RunLogger.start("dashboard-sweep-tests", f"sweep{index}", uri=store.uri,
                                 params={"learning_rate": [1e-4, 3e-4, 1e-3][index % 3], "lora.rank": [4, 8][index % 2],
                                         "output_dir": f"/runs/{index}"},
                                 tags={"deepsynth.sweep": "lr-sweep" if index < 6 else "rank-sweep"})
        logger.log_metrics({"eval/rougeL": 30.0 + index, "eval/docs": 100}, step=1, flush=True)
        logger.finish()
    app = open_page("compare")
    app.multiselect(key="compare.experiments").set_value(["dashboard-sweep-tests"]).run()
    assert app.selectbox(key="compare.sweep_group").value == "deepsynth.sweep"
    charts = _charts(app)
    parallel = charts["12 runs: params that differ against eval/rougeL"]["data"][0]
    labels = [d["label"] for d in parallel["dimensions"]]
    assert labels == ["learning_rate", "lora.rank", "eval/rougeL"]  # output_dir (all distinct) says nothing
    groups = _by_columns(app, "best run", "mean").set_index("deepsynth.sweep")
    assert groups.loc["rank-sweep", "runs"] == 6 and groups.loc["rank-sweep", "best"] == 41.0
    assert groups.loc["lr-sweep", "best run"].startswith("sweep5 (")
    assert "eval/rougeL by deepsynth.sweep" in charts


def test_export_builds_csv_tables_and_a_self_contained_html_report(open_page, eval_store, store):
    from deepsynth.tracking import queries
    from deepsynth.tracking.compare.report import html_report, tables_zip
    from deepsynth.tracking.compare.runs import compare_runs

    app = _open_eval(open_page, eval_store)
    assert {b.label for b in app.get("download_button")} == {"Tables (CSV, zip)", "Report (HTML)"}

    runs = [queries.get_run(eval_store[k], store.uri) for k in "abc"]
    comparison = compare_runs(runs, runs[0].run_id, {r.run_id: queries.run_predictions(r, store.uri) for r in runs})
    archive = zipfile.ZipFile(io.BytesIO(tables_zip({**comparison.tables(), "documents": comparison.documents().table})))
    assert sorted(archive.namelist()) == ["documents.csv", "paired.csv", "params.csv", "scores.csv"]
    header = archive.read("scores.csv").decode().splitlines()[0]
    assert header.startswith("run,run_id,status,split,docs,ROUGE-L,low,high")
    page = html_report("comparison", comparison.notes, [("Scores", comparison.score_figure())],
                       [("Scores", comparison.scores)])
    assert "plotly.js" in page.lower() and re.search(r"<script[^>]*\bsrc=", page) is None  # inlined: opens offline
    assert "n=6" in page and "Scored on different documents" in page and "class='scroll'" in page


def test_mlflow_links_only_where_a_ui_answers():
    from ui.compare_view import mlflow_ui_base

    assert mlflow_ui_base("http://tracking.example:5000/", "http://127.0.0.1:5000") == "http://tracking.example:5000"
    assert mlflow_ui_base("sqlite:///x.db", "http://127.0.0.1:9") is None  # nothing listens there
    assert mlflow_ui_base("sqlite:///x.db", "") is None


TASK_EXPERIMENT = "dashboard-task-tests"


def _task_runs(uri):
    """Two transcription runs (CER) and a QA run (ANLS) on the same 8 page ids."""
    from evaluated_runs import log_evaluated_run

    ids = [f"page{i}" for i in range(8)]
    clean = ["the quick brown fox jumps", "over the lazy dog", "pack my box", "with five dozen jugs"] * 2
    noisy = ["tha quick brown fox jumps", "ovr the lazy dog", "pack my bx", "with five dozen jugs"] * 2
    answers = ["fox", "dog", "box", "jugs", "quick", "zebras", "quartz", "vow"]
    log = lambda name, task, refs, outputs: log_evaluated_run(uri, TASK_EXPERIMENT, name, ids, refs, outputs, task=task)
    return {"worse": log("ocr-worse", "transcribe", clean, {"tuned": noisy, "reader": noisy}),
            "better": log("ocr-better", "transcribe", clean, {"tuned": clean, "reader": noisy}),
            "qa": log("qa-run", "qa", answers, {"tuned": answers[:4] + ["no"] * 4})}


def test_the_task_metric_drives_the_tables_charts_and_verdicts(open_page, store):
    runs = _task_runs(store.uri)
    app = open_page("compare")
    app.multiselect(key="compare.experiments").set_value([TASK_EXPERIMENT]).run()
    app.multiselect(key="compare.runs").set_value(list(runs.values())).run()
    app.selectbox(key="compare.reference").set_value(runs["worse"]).run()
    assert not app.exception, app.exception
    label = {k: f"{name} ({runs[k][:8]})" for k, name in (("worse", "ocr-worse"), ("better", "ocr-better"),
                                                          ("qa", "qa-run"))}
    scores = _by_columns(app, "95% CI", "docs").set_index("run")
    assert "CER" in scores.columns and "ROUGE-L" not in scores.columns and "WER" in scores.columns
    assert scores.loc[label["better"], "CER"] == "0.0" and _number(scores.loc[label["worse"], "CER"]) > 0
    assert "reader alone" in scores.columns and "first-clause" not in scores.columns  # the task's baselines only
    assert scores.loc[label["better"], "best baseline"] == "reader alone"
    assert scores.loc[label["qa"], "CER"] == ""  # a QA run gets no CER (a blank cell, never "None"), and says why
    assert "a qa run ranked by ANLS: not compared on CER" in scores.loc[label["qa"], "note"]
    shown = texts(app)
    assert "Which run has the lower CER" in shown and "Runs of different tasks or metrics" in shown

    paired = _by_columns(app, "Δ CER", "verdict").set_index("run")
    assert paired.loc[label["better"], "verdict"] == "better" and _number(paired.loc[label["better"], "Δ CER"]) < 0
    assert f"Not paired with the reference run: {label['qa']} (a qa run ranked by ANLS, the reference by CER)" in shown
    charts = _charts(app)
    score_chart = charts["CER per run, 95% interval"]
    assert score_chart["layout"]["xaxis"]["title"]["text"] == "CER (points, lower is better)"
    assert {t["y"][0].split(" · ")[0] for t in score_chart["data"] if not t["showlegend"]} == {
        label["worse"], label["better"]}  # the QA run is not drawn on the CER axis
    assert "below 0 is better" in charts[f"Δ CER vs {label['worse']} (paired, 95%)"]["layout"]["xaxis"]["title"]["text"]

    documents = _by_columns(app, "spread", "best gain")
    assert f"{label['better']} · CER" in documents.columns and not any("qa-run" in c for c in documents.columns)
    assert f"Left out, ranked by another metric than the reference run's CER: {label['qa']}" in shown

    app.selectbox(key="compare.reference").set_value(runs["qa"]).run()  # the QA run's own metric
    scores = _by_columns(app, "95% CI", "docs").set_index("run")
    assert "ANLS" in scores.columns and scores.loc[label["qa"], "ANLS"] == "50.0"
    assert scores.loc[label["worse"], "ANLS"] == ""
