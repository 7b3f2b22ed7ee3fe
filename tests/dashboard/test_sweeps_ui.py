"""Train page: queue a job, sweep from the current settings, follow the queue and the sweep;
Compare page: the compression chart for the runs of a render sweep. (The runner is a stand-in
here: nothing trains.)"""

from __future__ import annotations

import json

from dashboard_testing import texts
from render_sweep_runs import EXPERIMENT, render_sweep_store  # noqa: F401  (a fixture)

from deepsynth.jobs import queue


def frame_with(app, column):
    """The dataframe on the page that has `column` (AppTest does not expose dataframe keys)."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def train_page(open_page, fake_spawn, runners):
    app = open_page("train", **{"deepsynth.spawn": fake_spawn, "deepsynth.ensure_runner": lambda: runners.append(1)})
    app.selectbox(key="train.preset").set_value("minimal").run()
    return app


def test_queue_a_job_then_move_and_remove_it(open_page, datasets_setting, fake_spawn):
    runners = []
    app = train_page(open_page, fake_spawn, runners)
    app.number_input(key="train.cfg.max_steps").set_value(7)
    app.button(key="sweeps.queue_job").click().run()
    assert not app.exception and "at position 1" in app.success[0].value and runners == [1]
    app.button(key="sweeps.queue_job").click().run()
    first, second = queue.list_queued()
    assert first.config["max_steps"] == 7 and first.config["dataset"] == str(datasets_setting)
    assert not fake_spawn.calls  # queued, not started
    table = frame_with(app, "position")
    assert table["state"].tolist() == ["QUEUED", "QUEUED"] and table["position"].tolist() == [1, 2]
    restarted = train_page(open_page, fake_spawn, runners)  # a new dashboard process reads the same queue
    assert frame_with(restarted, "position")["job"].tolist() == [first.job_id, second.job_id]
    app.selectbox(key="sweeps.queue_job_choice").set_value(second.job_id)
    app.button(key="sweeps.queue_top").click().run()
    assert [j.job_id for j in queue.list_queued()] == [second.job_id, first.job_id]
    app.selectbox(key="sweeps.queue_job_choice").set_value(first.job_id)
    app.button(key="sweeps.queue_cancel").click().run()
    assert [j.job_id for j in queue.list_queued()] == [second.job_id]


def test_sweep_from_the_current_settings_and_follow_it(open_page, datasets_setting, fake_spawn):
    runners = []
    app = train_page(open_page, fake_spawn, runners)
    app.toggle(key="sweeps.form.open").set_value(True).run()
    app.text_area(key="sweeps.form.axes").set_value("lora.rnak=4").run()
    assert "lora.rnak" in texts(app) and "did you mean lora.rank" in texts(app)
    app.text_area(key="sweeps.form.axes").set_value("lora.rank=4,8\nlearning_rate=1e-4,1e-3").run()
    assert "4 point(s): lora.rank (2) x learning_rate (2)" in app.code[0].value
    app.button(key="sweeps.form.start").click().run()
    assert not app.exception and "4 job(s) queued" in app.success[-1].value and runners == [1]
    queued = queue.list_queued()
    sweep_id = queued[0].sweep_id
    assert len(queued) == 4 and {j.sweep_id for j in queued} == {sweep_id} and sweep_id
    assert [j.config["lora"]["rank"] for j in queued] == [4, 4, 8, 8]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Queued"] == "4" and metrics["Done"] == "0"
    link = app.get("page_link")[0].proto
    assert link.label == f"Compare the runs of {sweep_id}" and f"sweep={sweep_id}" in link.page + link.query_string


def test_the_compare_page_charts_a_render_sweep(open_page, workspace, render_sweep_store):
    render_sweep_store.point_dashboard_at_it(workspace)
    sweep_id = render_sweep_store.sweep_id
    app = open_page("compare")
    app.multiselect(key="compare.experiments").set_value([EXPERIMENT]).run()
    assert not app.exception and "Render sweep: compression vs summary quality" in texts(app)
    figure = json.loads(app.get("plotly_chart")[-1].proto.spec)
    trace = figure["data"][0]
    assert sorted(trace["text"]) == ["font_size=14", "font_size=22", "font_size=28"]
    assert "error_y" in trace and figure["layout"]["xaxis"]["title"]["text"].startswith("compression ratio")
    table = frame_with(app, "setting")
    assert table["setting"].tolist() == ["font_size=14", "font_size=22", "font_size=28"]  # highest ratio first
    assert set(table["run_name"].str.endswith(f"({sweep_id})")) == {True}
    # runs that are not a render sweep: no such block
    app.multiselect(key="compare.runs").set_value(app.multiselect(key="compare.runs").value[:1]).run()
    assert "Render sweep" not in texts(app)


def test_the_train_pages_sweep_link_opens_compare_on_that_sweeps_runs(workspace, render_sweep_store):
    """`compare?sweep=<id>` (the link under a sweep's progress) filters on the sweep tag and selects
    all its runs, so the compression chart shows without touching a filter."""
    from streamlit.testing.v1 import AppTest

    from dashboard_testing import APP

    render_sweep_store.point_dashboard_at_it(workspace)
    sweep_id = render_sweep_store.sweep_id
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params["sweep"] = sweep_id
    app.switch_page("../pages/compare.py").run()
    assert not app.exception, app.exception
    assert app.text_input(key="compare.tags").value == f"deepsynth.sweep={sweep_id}"
    assert len(app.multiselect(key="compare.runs").value) == 3  # the parent run (no scores) is not preselected
    assert "Render sweep: compression vs summary quality" in texts(app)


def test_a_sweeps_parent_run_is_offered_nowhere_an_adapter_is_expected(open_page, workspace, render_sweep_store):
    """The parent run holds the sweep's definition and summary, no adapter: exporting, registering
    or trying it in the playground would fail, so those pickers leave it out."""
    render_sweep_store.point_dashboard_at_it(workspace)
    parent = f"sweep {render_sweep_store.sweep_id}"
    registry = open_page("registry")
    assert not registry.exception
    offered = registry.selectbox(key="registry.export.run").options
    assert len(offered) == 3 and not [label for label in offered if label.startswith(parent)]
    playground = open_page("playground")
    adapters = playground.multiselect(key="playground.adapters")
    assert not [label for label in adapters.options if parent in label]
    (picked,) = adapters.value  # the best-scoring run (font 22: ROUGE-L 33.5), not the newest (font 14: 24.0)
    assert "render.font_size=22" in adapters.options[adapters.indices[0]]
