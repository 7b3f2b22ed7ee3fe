"""Presets & estimate page: the library's estimate shown as metrics, a stacked memory bar and a
GPU fit table; presets fill the fields; bad settings are reported under their fields; the choice
is handed to the Train page through a file."""

import json

from dashboard_testing import element_after, started_config, texts

from deepsynth.estimate import GPUS, Workload, estimate, load_architecture
from deepsynth.lora import preset


def human(value):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.2f} {unit}"
        value /= 1024


def metrics(app):
    return {m.label: m.value for m in app.metric}


def test_default_estimate_matches_the_library(open_page):
    app = open_page("estimate")
    expected = estimate(load_architecture("default"), preset("standard"), Workload(batch_size=8, seq_len=256))
    shown = metrics(app)
    assert shown["Parameters"] == f"{expected.total_params / 1e6:,.1f} M"
    assert shown["Trainable"] == f"{expected.trainable_params / 1e6:,.2f} M"
    assert shown["Peak memory"] == human(expected.memory.total)
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert {trace["name"] for trace in figure["data"]} == {
        name for name, value in expected.memory.as_bytes().items() if value and name != "total"}
    fit = app.dataframe[1].value
    assert fit["GPU"].tolist() == [g.name for g in GPUS]
    assert fit["fits"].tolist() == ["yes" if expected.gpu_fit[g.name] else "no" for g in GPUS]


def test_presets_fill_the_fields_and_change_the_estimate(open_page):
    app = open_page("estimate")
    standard = metrics(app)["Peak memory"]
    app.selectbox(key="estimate.preset").set_value("qlora_4bit").run()
    assert app.selectbox(key="estimate.lora.quantization").value == "nf4"
    assert app.checkbox(key="estimate.lora.double_quantization").value is True
    expected = estimate(load_architecture("default"), preset("qlora_4bit"), Workload(batch_size=8, seq_len=256))
    assert metrics(app)["Peak memory"] == human(expected.memory.total) != standard
    app.selectbox(key="estimate.model").set_value("deepseek-ocr").run()
    assert float(metrics(app)["Parameters"].split()[0].replace(",", "")) > 3000  # a 3B-class model


def test_invalid_settings_are_reported_under_their_fields(open_page):
    app = open_page("estimate")
    app.number_input(key="estimate.lora.rank").set_value(0)
    app.number_input(key="estimate.lora.dropout").set_value(1.0)
    app.checkbox(key="estimate.lora.double_quantization").set_value(True)
    app.number_input(key="estimate.batch_size").set_value(0).run()
    lora_row = element_after(app, "estimate.lora.target_modules")
    assert lora_row.type == "error" and "**rank**" in lora_row.value and "**dropout**" in lora_row.value
    quant_row = element_after(app, "estimate.lora.bias")
    assert "double_quantization" in quant_row.value
    workload_row = element_after(app, "estimate.image_tokens.False")
    assert "batch_size" in workload_row.value
    assert not app.metric and not app.get("plotly_chart")  # no estimate from invalid settings


def test_targets_that_match_nothing_and_a_missing_model_file(open_page, workspace):
    app = open_page("estimate")
    app.text_input(key="estimate.lora.target_modules").set_value("no_such_proj").run()
    error = element_after(app, "estimate.lora.target_modules")
    assert error.type == "error" and "no_such_proj" in error.value
    app.text_input(key="estimate.lora.target_modules").set_value("")
    app.selectbox(key="estimate.model").set_value("config.json path").run()
    app.text_input(key="estimate.model_path").set_value(str(workspace / "missing.json")).run()
    error = element_after(app, "estimate.text_encoder")
    assert error.type == "error" and "missing.json" in error.value


def test_settings_travel_to_the_train_page(open_page, datasets_setting, fake_spawn):
    app = open_page("estimate")
    app.selectbox(key="estimate.preset").set_value("r32").run()
    app.button(key="estimate.use").click().run()
    assert "Saved to" in app.success[0].value

    train = open_page("train", **{"deepsynth.spawn": fake_spawn})
    train.radio(key="train.settings_source").set_value("From the estimate page").run()
    assert "**r32** · rank 32 · alpha 64" in texts(train)
    train.button(key="train.start").click().run()
    assert started_config(fake_spawn.calls[0]).preset == "r32"

    app.number_input(key="estimate.lora.rank").set_value(24).run()
    app.button(key="estimate.use").click().run()
    train = open_page("train", **{"deepsynth.spawn": fake_spawn})
    train.radio(key="train.settings_source").set_value("From the estimate page").run()
    # edited settings travel as a custom LoRA: shown as such, and the job gets the edited rank
    assert "**custom** · rank 24 · alpha 64" in texts(train)
    train.button(key="train.start").click().run()
    assert not train.error
    started = started_config(fake_spawn.calls[-1])
    assert (started.lora.rank, started.lora.alpha, started.preset) == (24, 64, "custom")
