"""The form generator (ui/config_form.ConfigForm) draws any config dataclass from its settings:
groups and order from the fields' metadata, `advanced` ones in an expander, values read back into
the config, and nothing a form may not carry (remote code) gets a widget."""

from streamlit.testing.v1 import AppTest

from dashboard_testing import ROOT

FORM_FILE = ROOT / "dashboard" / "ui" / "config_form.py"


def _generated_page(cls_path: str, prefix: str, form_file: str) -> None:
    import importlib
    import importlib.util
    import sys

    import streamlit as st

    spec = importlib.util.spec_from_file_location("generated_form_ui", form_file)  # ui/config_form.py
    config_form = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = config_form
    spec.loader.exec_module(config_form)
    ConfigForm = config_form.ConfigForm

    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    form = ConfigForm(cls, prefix)
    for key, value in form.defaults().items():
        st.session_state.setdefault(key, value)
    form.draw(st)
    try:
        built = form.build(extra=st.session_state.get("extra", {}))
        st.code(repr(built), language=None)
    except Exception as error:  # noqa: BLE001 - shown, as a page shows a ConfigError
        st.error(str(error))


def _app(cls_path: str, prefix: str, **state) -> AppTest:
    app = AppTest.from_function(_generated_page, args=(cls_path, prefix, str(FORM_FILE)), default_timeout=30)
    for key, value in state.items():
        app.session_state[key] = value
    return app.run()


def _keys(app: AppTest) -> set[str]:
    return {w.key for kind in ("number_input", "text_input", "checkbox", "selectbox")
            for w in getattr(app, kind) if w.key}


def test_any_config_dataclass_gets_a_form_that_builds_it():
    from deepsynth.estimate.workload import Workload
    from deepsynth.lora import LoraSettings
    from deepsynth.render.config import RenderConfig

    for cls, prefix in ((RenderConfig, "r"), (LoraSettings, "l"), (Workload, "w")):
        app = _app(f"{cls.__module__}.{cls.__name__}", prefix)
        assert not app.exception and not app.error, (cls, app.error)
        assert app.code[0].value == repr(cls())  # the defaults read back as the dataclass's own
        from deepsynth.settings import FORM, settings_of
        assert _keys(app) == {f"{prefix}.{s.path}" for s in settings_of(cls) if s.allows(FORM)}
    assert "w.vision_images" not in _keys(app)  # measured from a batch, never typed


def test_an_edit_reaches_the_config_and_a_bad_value_is_named():
    app = _app("deepsynth.lora.LoraSettings", "l")
    app.number_input(key="l.rank").set_value(24).run()
    assert "rank=24" in app.code[0].value
    app.number_input(key="l.rank").set_value(0).run()
    assert "rank" in app.error[0].value


def test_train_form_groups_advanced_settings_and_carries_no_remote_code(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "deepsynth_dataset.json").write_text("{}")
    app = _app("deepsynth.training.config.TrainConfig", "t", extra={"dataset": str(tmp_path / "data")})
    assert not app.exception and not app.error, app.error
    keys = _keys(app)
    assert "t.model.trust_remote_code" not in keys  # flag-only: forms never offer it
    assert {"t.lora.rank", "t.warmup_steps", "t.batch_size"} <= keys
    assert [e.label for e in app.expander] == ["More settings"]
    titles = [m.value for m in app.markdown]
    assert "**Model**" in titles and "**LoRA adapter**" in titles and "**Training**" in titles
    assert "warmup_steps='auto'" in app.code[0].value  # left empty: auto


def test_a_form_cannot_write_outside_the_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "deepsynth_dataset.json").write_text("{}")
    app = _app("deepsynth.training.config.TrainConfig", "t",
               extra={"dataset": str(tmp_path / "data"), "output_dir": "../../../tmp/elsewhere",
                      "model.trust_remote_code": True})
    message = app.error[0].value
    assert "output_dir" in message and "outside the workspace" in message
    assert "trust_remote_code" in message and "--trust-remote-code" in message
