"""Compare page: runs from the store, overlaid curves, differing params, metrics, memory, links."""

import base64
import json

import numpy as np
from dashboard_testing import EXPERIMENT, texts

from deepsynth.tracking import compare


def test_compare_shows_curves_params_metrics_and_memory(open_page, store):
    app = open_page("compare")
    app.multiselect(key="compare.experiments").set_value([EXPERIMENT]).run()
    chosen = app.multiselect(key="compare.runs").value
    assert set(chosen) == set(store.finished)  # finished runs preselected, the failed one not

    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["title"]["text"] == "train/loss by step"
    curves = {trace["name"]: trace["y"] for trace in figure["data"]}
    assert sorted(curves) == sorted(f"rank{r} ({rid[:8]})" for r, rid in zip((8, 16, 32), store.finished))
    assert all(len(_values(y)) == 30 for y in curves.values())

    metrics = app.dataframe[0].value
    assert metrics.set_index("run_id").loc[store.finished[2], "eval/rougeL"] == 22.0
    assert all(link.endswith(f"/runs/{rid}") for link, rid in zip(metrics["MLflow"], metrics["run_id"]))

    differing = app.dataframe[1].value
    assert list(differing.index) == ["lora.rank"]
    assert sorted(differing.loc["lora.rank"]) == ["16", "32", "8"]

    memory = app.dataframe[2].value.set_index("run")
    errors = sorted(memory["error_percent"].round(3))
    assert errors == [round(-100 * x / (1 + x), 3) for x in (0.2, 0.1, 0.0)]


def _values(y):
    """Plotly 6+ serialises numeric arrays as {"dtype", "bdata"} (base64); older as lists."""
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
    return y


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


def test_compare_library_tables():
    class Run:
        def __init__(self, rid, params, metrics):
            self.run_id, self.run_name, self.status = rid, "", "FINISHED"
            self.params, self.metrics, self.tags = params, metrics, {}

    runs = [Run("a" * 32, {"x": "1", "y": "2"}, {"memory/estimated_bytes": 90.0, "memory/measured_peak_bytes": 100.0}),
            Run("b" * 32, {"x": "1", "y": "3", "z": "4"}, {})]
    assert compare.differing_params(runs).to_dict("index") == {
        "y": {"run (aaaaaaaa)": "2", "run (bbbbbbbb)": "3"}, "z": {"run (aaaaaaaa)": "", "run (bbbbbbbb)": "4"}}
    memory = compare.memory_comparison(runs)
    assert memory["error_percent"].tolist()[0] == -10.0 and memory["error_percent"].isna().tolist()[1]
    assert compare.tags_filter({"a.b": "it's"}) == "tags.`a.b` = 'it\\'s'"
