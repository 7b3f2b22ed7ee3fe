"""Export & registry page: export a run's adapter to a ZIP, register it, move an alias."""

import uuid
import zipfile

from dashboard_testing import element_after, texts


def test_export_writes_a_package_offered_for_download(open_page, store, workspace):
    app = open_page("registry")
    app.selectbox(key="registry.export.run").set_value(store.with_adapter).run()
    target = app.text_input(key=f"registry.export.out.{store.with_adapter}").value
    assert target == str(workspace / "workspace" / "exports" / f"rank16-{store.with_adapter[:8]}.zip")
    app.button(key="registry.export.go").click().run(timeout=120)
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert f"Wrote `{target}`" in app.success[0].value
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md", "manifest.json"} <= names
    assert app.selectbox(key="registry.packages").value.name == f"rank16-{store.with_adapter[:8]}.zip"
    assert len(app.get("download_button")) == 1


def test_export_of_a_run_without_adapter_shows_the_library_error(open_page, store):
    app = open_page("registry")
    app.selectbox(key="registry.export.run").set_value(store.finished[0]).run()
    app.button(key="registry.export.go").click().run(timeout=120)
    assert not app.exception
    assert "adapter" in app.error[0].value and store.finished[0] in app.error[0].value
    assert not app.success


def test_register_checks_the_name_then_registers_and_moves_an_alias(open_page, store):
    app = open_page("registry")
    app.selectbox(key="registry.register.run").set_value(store.with_adapter)
    app.text_input(key="registry.register.name").set_value("bad/name").run()
    app.button(key="registry.register.go").click().run()
    error = element_after(app, "registry.register.name")
    assert error.type == "error" and "path character '/'" in error.value

    name = f"dash-{uuid.uuid4().hex[:8]}"
    app.text_input(key="registry.register.name").set_value(name)
    app.text_input(key="registry.register.alias").set_value("champion").run()
    app.button(key="registry.register.go").click().run()
    assert f"Registered **{name}** version 1 as `champion`" in app.success[0].value
    app.text_input(key="registry.register.alias").set_value("").run()
    app.button(key="registry.register.go").click().run()  # a second version of the same adapter
    assert f"Registered **{name}** version 2" in app.success[0].value

    table = app.dataframe[0].value
    mine = table[table["name"] == name].set_index("version")
    assert mine.loc[1, "aliases"] == "champion" and mine.loc[2, "aliases"] == ""
    assert set(mine["run_id"]) == {store.with_adapter}
    assert mine.loc[2, "reference"] == f"models:/{name}/2"

    app.selectbox(key="registry.alias.name").set_value(name).run()
    app.selectbox(key="registry.alias.version").set_value("2")
    app.text_input(key="registry.alias.alias").set_value("champion").run()
    app.button(key="registry.alias.go").click().run()
    assert not app.exception
    assert f"{name}@champion → version 2 (was version 1)" in texts(app)
    table = app.dataframe[0].value
    mine = table[table["name"] == name].set_index("version")
    assert mine.loc[2, "aliases"] == "champion" and mine.loc[1, "aliases"] == ""
