"""Presets & estimate page: the library's estimate for *this* machine first (its CPU when it has no
GPU; GPU tables labelled "If you had a GPU"), presets fill the fields and edits read `custom`
(alpha following rank), bad settings are reported under their fields, and the choice is handed to
the Train page, which opens on it."""

import json

from dashboard_testing import element_after, error_after, started_config, texts

from deepsynth.estimate import GPUS, Workload, estimate, load_architecture
from deepsynth.estimate.cpu_time import cpu_throughput
from deepsynth.estimate.gpus import local_device
from deepsynth.estimate.this_machine import Machine
from deepsynth.lora import preset
from deepsynth.units import readable_duration

CPU = Machine("cpu", 2)
GPU = Machine("cuda", 16, (local_device("GPU 0", 141 * 2**30),))


def human(value):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.2f} {unit}"
        value /= 1024


def metrics(app):
    return {m.label: m.value for m in app.metric}


def open_estimate(open_page, machine=CPU, **state):
    return open_page("estimate", **{"deepsynth.machine": machine}, **state)


def test_a_cpu_only_machine_sees_cpu_time_first_and_gpu_tables_as_if(open_page):
    app = open_estimate(open_page)
    assert app.selectbox(key="estimate.device").value == "cpu" and app.selectbox(key="estimate.dtype").value == "float32"
    # the page starts from a training run's defaults on this machine: a CPU run checkpoints activations
    workload = Workload(dtype="float32", device="cpu", gradient_checkpointing=True)
    assert app.checkbox(key="estimate.gradient_checkpointing").value
    expected = estimate(load_architecture("default"), preset("standard"), workload)
    shown = metrics(app)
    assert shown["Parameters"] == f"{expected.total_params / 1e6:,.1f} M"
    assert shown["Trainable"] == f"{expected.trainable_params / 1e6:,.2f} M"
    assert shown["Peak memory"] == human(expected.memory.total)
    speed = cpu_throughput(load_architecture("default"), preset("standard"), workload, threads=2)
    assert list(shown)[3] == "Time on this CPU (2 threads)"  # this machine's time, in the first row
    assert shown["Time on this CPU (2 threads)"] == readable_duration(speed.hours * 3600)
    assert not any(label.startswith("Time on A100") for label in shown)
    assert "If you had a GPU" in [s.value for s in app.subheader] and "GPU fit" not in [s.value for s in app.subheader]
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert {trace["name"] for trace in figure["data"]} == {
        name for name, value in expected.memory.as_bytes().items() if value and name != "total"}
    fit = app.dataframe[0].value
    assert fit["GPU"].tolist() == [g.name for g in GPUS]
    assert fit["fits"].tolist() == ["yes" if expected.gpu_fit[g.name] else "no" for g in GPUS]


def test_a_gpu_machine_defaults_to_cuda_and_lists_its_own_gpu(open_page):
    app = open_estimate(open_page, machine=GPU)
    assert app.selectbox(key="estimate.device").value == "cuda" and app.selectbox(key="estimate.dtype").value == "bfloat16"
    assert "GPU fit" in [s.value for s in app.subheader]
    assert app.dataframe[0].value["GPU"].tolist()[-1] == "local: GPU 0"
    assert "1 GPU(s) (GPU 0)" in texts(app)


def test_formulas_are_shown_whole(open_page):
    app = open_estimate(open_page)
    expected = estimate(load_architecture("default"), preset("standard"),
                        Workload(dtype="float32", device="cpu", gradient_checkpointing=True))
    table = app.table[0].value
    assert table.loc["activations", "formula"] == expected.memory.activations.formula  # not cut at a width


def test_presets_fill_the_fields_and_edits_read_custom(open_page):
    app = open_estimate(open_page)
    standard = metrics(app)["Peak memory"]
    app.selectbox(key="estimate.preset").set_value("qlora_4bit").run()
    assert app.selectbox(key="estimate.lora.quantization").value == "nf4"
    assert app.checkbox(key="estimate.lora.double_quantization").value is True
    expected = estimate(load_architecture("default"), preset("qlora_4bit"),
                        Workload(dtype="float32", device="cpu", gradient_checkpointing=True))
    assert metrics(app)["Peak memory"] == human(expected.memory.total) != standard
    assert "saves GPU memory, not CPU time" in app.warning[0].value  # qlora on a CPU-only machine

    app.selectbox(key="estimate.preset").set_value("standard").run()
    app.number_input(key="estimate.lora.rank").set_value(24).run()
    assert app.selectbox(key="estimate.preset").value == "custom"  # no longer "standard"
    assert "Balanced default" not in texts(app) and "Edited settings" in texts(app)
    assert app.number_input(key="estimate.lora.alpha").value == 48.0  # follows rank (x2, as the preset)
    app.number_input(key="estimate.lora.alpha").set_value(20.0).run()
    app.number_input(key="estimate.lora.rank").set_value(8).run()
    assert app.number_input(key="estimate.lora.alpha").value == 20.0  # typed by hand: kept
    app.number_input(key="estimate.lora.rank").set_value(16)
    app.number_input(key="estimate.lora.alpha").set_value(32.0).run()
    assert app.selectbox(key="estimate.preset").value == "standard"  # back to the preset's exact values
    app.selectbox(key="estimate.model").set_value("deepseek-ocr").run()
    assert float(metrics(app)["Parameters"].split()[0].replace(",", "")) > 3000  # a 3B-class model


def test_invalid_settings_are_reported_under_their_fields(open_page):
    app = open_estimate(open_page)
    app.number_input(key="estimate.lora.rank").set_value(0)
    app.number_input(key="estimate.lora.dropout").set_value(1.0)
    app.checkbox(key="estimate.lora.double_quantization").set_value(True)
    app.number_input(key="estimate.batch_size").set_value(0).run()
    lora_row = error_after(app, "estimate.lora.rank")  # under the LoRA fields, before the workload
    assert "**rank**" in lora_row.value and "**dropout**" in lora_row.value
    assert "double_quantization" in lora_row.value
    assert error_after(app, "estimate.device") is not lora_row
    assert "batch_size" in error_after(app, "estimate.device").value
    assert not app.metric and not app.get("plotly_chart")  # no estimate from invalid settings


def test_targets_that_match_nothing_and_a_missing_model_file(open_page, workspace):
    app = open_estimate(open_page)
    app.text_input(key="estimate.lora.target_modules").set_value("no_such_proj").run()
    error = error_after(app, "estimate.lora.target_modules")
    assert "no_such_proj" in error.value
    app.text_input(key="estimate.lora.target_modules").set_value("")
    app.selectbox(key="estimate.model").set_value("another folder, config.json or hub id…").run()
    app.text_input(key="estimate.model_path").set_value(str(workspace / "missing.json")).run()
    error = element_after(app, "estimate.text_encoder")
    assert error.type == "error" and "missing.json" in error.value


def test_the_train_page_opens_on_the_hand_off(open_page, datasets_setting, fake_spawn):
    app = open_estimate(open_page)
    app.selectbox(key="estimate.preset").set_value("r32")
    app.number_input(key="estimate.batch_size").set_value(4).run()
    app.button(key="estimate.use").click().run()
    assert "opens on “From the estimate page”" in app.success[0].value

    train = open_page("train", **{"deepsynth.spawn": fake_spawn, "deepsynth.machine": CPU})
    assert train.radio(key="train.settings_source").value == "From the estimate page"  # preselected
    assert "From the estimate page: **r32**" in texts(train)
    assert train.number_input(key="train.cfg.lora.rank").value == 32
    assert train.number_input(key="train.cfg.batch_size").value == 4
    assert "(preset **r32**)" in texts(train)
    train.button(key="train.start").click().run()
    started = started_config(fake_spawn.calls[0])
    assert (started.preset, started.lora.rank, started.batch_size) == ("r32", 32, 4)

    train.radio(key="train.settings_source").set_value("Preset").run()  # the user changes their mind...
    again = open_page("train", **{"deepsynth.machine": CPU})  # ...and reloads: their choice stays
    assert again.radio(key="train.settings_source").value == "Preset"

    app.number_input(key="estimate.lora.rank").set_value(24).run()
    app.button(key="estimate.use").click().run()  # a new hand-off is applied once more
    train = open_page("train", **{"deepsynth.spawn": fake_spawn, "deepsynth.machine": CPU})
    assert train.radio(key="train.settings_source").value == "From the estimate page"
    assert "From the estimate page: **custom**" in texts(train)
    train.button(key="train.start").click().run()
    assert not train.error
    started = started_config(fake_spawn.calls[-1])
    assert (started.lora.rank, started.lora.alpha, started.preset) == (24, 48, "custom")


def test_a_vlm_folder_in_workspace_models_shows_its_family_and_vision_tokens(open_page, workspace):
    """A native VLM brought as a folder: offered in the model picker, its family and the vision
    tokens of one rendered page shown (from its processor config), and the estimate uses them."""
    from deepsynth.estimate import vision_tokens_per_page
    from deepsynth.models.vlm.tiny import build_tiny_vlm
    from deepsynth.paths import models_dir
    from deepsynth.render.config import RenderConfig

    folder = build_tiny_vlm("qwen2_5_vl", models_dir() / "tiny-qwen2.5-vl")
    app = open_estimate(open_page)
    assert "tiny-qwen2.5-vl (workspace/models)" in app.selectbox(key="estimate.model").options
    app.selectbox(key="estimate.model").set_value(str(folder)).run()
    assert not app.exception
    width, height = RenderConfig().output_size
    tokens = vision_tokens_per_page(folder, width, height)
    assert f"**Qwen2.5-VL**, a native vision-language model: {tokens} vision tokens per {width}x{height} page" \
        in texts(app)
    assert "estimate.image_tokens" not in {w.key for w in app.number_input}  # from its processor, not typed
    app.number_input(key="estimate.pages").set_value(2).run()
    assert f"{2 * tokens} per document" in texts(app)
    app.selectbox(key="estimate.render_mode").set_value("tiny").run()
    small = vision_tokens_per_page(folder, *RenderConfig(mode="tiny").output_size)
    assert f"{small} vision tokens per 512x512 page" in texts(app)


def _hub_cache(tmp_path, monkeypatch, offline):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    return tmp_path / "hub" / "models--acme--tiny-qwen"


def _cache_tiny_vlm(repo, commit="c0ffee" * 6 + "c0ff"):
    from deepsynth.models.vlm.tiny import build_tiny_vlm

    build_tiny_vlm("qwen2_5_vl", repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


def test_a_hub_id_in_the_cache_shows_its_family(open_page, tmp_path, monkeypatch):
    _cache_tiny_vlm(_hub_cache(tmp_path, monkeypatch, offline=True))
    app = open_estimate(open_page)
    app.selectbox(key="estimate.model").set_value("another folder, config.json or hub id…").run()
    app.text_input(key="estimate.model_path").set_value("acme/tiny-qwen").run()
    assert not app.exception and "**Qwen2.5-VL**, a native vision-language model" in texts(app)
    app.text_input(key="estimate.model_path").set_value("acme/absent").run()  # offline, not cached: named
    error = element_after(app, "estimate.text_encoder")
    assert error.type == "error" and "holds no snapshot of 'acme/absent'" in error.value


def test_a_hub_id_to_download_waits_for_the_button_and_shows_progress(open_page, tmp_path, monkeypatch):
    import deepsynth.hub_models as hub_models

    repo = _hub_cache(tmp_path, monkeypatch, offline=False)
    heard = []

    real = hub_models.model_files

    def download(name, progress=None):  # what snapshot_download would leave in the cache
        if hub_models.cached_snapshot(name) is None:
            progress(50, 100)
            progress(100, 100)
            heard.append(name)
            _cache_tiny_vlm(repo)
        return real(name)

    monkeypatch.setattr(hub_models, "model_files", download)
    app = open_estimate(open_page)
    app.checkbox(key="settings.allow_downloads").check().run()  # the admin's switch (tests/dashboard/test_hub_downloads.py)
    app.selectbox(key="estimate.model").set_value("another folder, config.json or hub id…").run()
    app.text_input(key="estimate.model_path").set_value("acme/tiny-qwen").run()
    assert "not in your Hugging Face cache yet" in texts(app) and not app.metric  # nothing fetched unasked
    app.button(key="estimate.download").click().run()
    assert heard == ["acme/tiny-qwen"] and not app.exception
    assert "**Qwen2.5-VL**, a native vision-language model" in texts(app) and app.metric
