"""Export & registry page: export a run's adapter, register it, move an alias, with guardrails:
scores in the pickers, the register form following the export choice, a question before an alias
moves to a lower score, and fields that stay empty unless the user fills them."""

import uuid
import zipfile
from pathlib import Path

import pytest
from dashboard_testing import EXPERIMENT, element_after, texts, write_fake_adapter

from deepsynth.tracking.registry import register_adapter
from deepsynth.tracking.store import RunLogger


@pytest.fixture(scope="module")
def weaker_run(store, tmp_path_factory):
    """A finished run with an adapter and a much lower ROUGE-L (8.3) than the rank-16 run (21)."""
    logger = RunLogger.start(EXPERIMENT, run_name="weaker", uri=store.uri)
    logger.log_metrics({"eval/rougeL": 8.3}, 1, flush=True)
    logger.log_artifacts(write_fake_adapter(tmp_path_factory.mktemp("weaker") / "adapter"), "adapter")
    logger.finish()
    return logger.run_id


def test_export_writes_a_package_offered_for_download(open_page, store, workspace):
    app = open_page("registry")
    app.selectbox(key="registry.export.run").set_value(store.with_adapter).run()
    target = app.text_input(key="registry.export.out").value
    assert target == str(workspace / "workspace" / "exports" / f"rank16-{store.with_adapter[:8]}.zip")
    app.button(key="registry.export.go").click().run(timeout=120)
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert f"Wrote `{target}`" in app.success[0].value
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md", "manifest.json"} <= names
    assert Path(app.selectbox(key="registry.packages").value).name == f"rank16-{store.with_adapter[:8]}.zip"
    assert len(app.get("download_button")) == 1


def test_export_of_a_run_without_adapter_shows_the_library_error(open_page, store):
    app = open_page("registry")
    app.selectbox(key="registry.export.run").set_value(store.finished[0]).run()
    app.button(key="registry.export.go").click().run(timeout=120)
    assert not app.exception
    assert "adapter" in app.error[0].value and store.finished[0] in app.error[0].value
    assert not app.success


def test_pickers_show_score_and_status_and_register_follows_the_export_choice(open_page, store):
    app = open_page("registry")
    picker = app.selectbox(key="registry.export.run")
    label = picker.format_func(store.with_adapter)
    assert label.startswith("rank16 · ") and "FINISHED" in label and "ROUGE-L 21.0" in label
    assert app.selectbox(key="registry.register.run").value == picker.value  # follows from the start
    other = next(run_id for run_id in store.finished  # another finished run the picker offers
                 if run_id != picker.value and picker.format_func(run_id) in picker.options)
    picker.set_value(other).run()
    assert app.selectbox(key="registry.register.run").value == other
    picker.set_value(store.with_adapter).run()
    assert app.selectbox(key="registry.register.run").value == store.with_adapter


def test_fields_are_empty_not_grey_examples_and_an_empty_name_says_so(open_page, store):
    app = open_page("registry")
    for key in ("registry.register.name", "registry.register.alias"):
        assert app.text_input(key=key).value == "" and not app.text_input(key=key).placeholder
    app.button(key="registry.register.go").click().run()
    error = element_after(app, "registry.register.name")
    assert error.type == "error" and error.value == "Give the registered model a name."


def test_register_then_move_an_alias_to_a_lower_score_asks_first(open_page, store, weaker_run):
    name = f"dash-{uuid.uuid4().hex[:8]}"
    app = open_page("registry")
    app.selectbox(key="registry.export.run").set_value(store.with_adapter)
    app.text_input(key="registry.register.name").set_value("bad/name").run()
    app.button(key="registry.register.go").click().run()
    error = element_after(app, "registry.register.name")
    assert error.type == "error" and "path character '/'" in error.value

    app.text_input(key="registry.register.name").set_value(name)
    app.text_input(key="registry.register.alias").set_value("champion").run()
    app.button(key="registry.register.go").click().run()
    assert f"Registered **{name}** version 1 as `champion`" in app.success[0].value
    assert app.text_input(key="registry.register.alias").value == ""  # used: emptied, never moved by accident
    assert app.text_input(key="registry.register.name").value == name

    app.selectbox(key="registry.register.run").set_value(weaker_run).run()
    app.button(key="registry.register.go").click().run()  # a second version, no alias
    assert f"Registered **{name}** version 2" in app.success[0].value
    table = app.dataframe[0].value
    mine = table[table["name"] == name].set_index("version")
    assert mine.loc[1, "aliases"] == "champion" and mine.loc[2, "aliases"] == ""
    assert mine.loc[1, "score"] == pytest.approx(21.0) and mine.loc[2, "score"] == pytest.approx(8.3)
    assert mine.loc[1, "metric"] == "ROUGE-L (higher is better)"
    assert mine.loc[2, "reference"] == f"models:/{name}/2"

    app.selectbox(key="registry.alias.name").set_value(name).run()
    assert app.text_input(key="registry.alias.alias").value == ""  # no pre-filled "champion"
    version = app.selectbox(key="registry.alias.version")
    assert "ROUGE-L 8.3" in version.format_func("2")
    version.set_value("2")
    app.text_input(key="registry.alias.alias").set_value("champion").run()
    app.button(key="registry.alias.go").click().run()
    assert not app.exception and not app.success
    assert "version 1 (ROUGE-L 21.0); version 2 scored 8.3, 12.7 points lower" in app.warning[0].value
    app.button(key="registry.alias.pending.no").click().run()  # called off: nothing moved
    table = app.dataframe[0].value
    assert table[table["name"] == name].set_index("version").loc[1, "aliases"] == "champion"

    app.button(key="registry.alias.go").click().run()
    app.button(key="registry.alias.pending.yes").click().run()  # confirmed
    assert f"{name}@champion → version 2 (was version 1)" in texts(app)
    table = app.dataframe[0].value
    mine = table[table["name"] == name].set_index("version")
    assert mine.loc[2, "aliases"] == "champion" and mine.loc[1, "aliases"] == ""
    assert app.text_input(key="registry.alias.alias").value == ""


def test_registering_with_an_alias_that_would_move_to_a_lower_score_asks(open_page, store, weaker_run):
    name = f"dash-{uuid.uuid4().hex[:8]}"
    register_adapter(store.with_adapter, name, alias="champion", uri=store.uri)
    app = open_page("registry")
    app.selectbox(key="registry.register.run").set_value(weaker_run)
    app.text_input(key="registry.register.name").set_value(name)
    app.text_input(key="registry.register.alias").set_value("champion").run()
    app.button(key="registry.register.go").click().run()
    assert "ROUGE-L 21.0" in app.warning[0].value and not app.success  # asked, nothing registered yet
    app.button(key="registry.register.pending.yes").click().run()
    assert f"Registered **{name}** version 2 as `champion`" in app.success[0].value
