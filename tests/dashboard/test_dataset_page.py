"""Dataset page: preview of a bundled corpus, upload checks, column choices from the file, settings
kept across a source switch and a reload, tiny splits flagged, errors in the page's words, generate,
browse."""

import json

from dashboard_testing import element_after, texts



def rows(n, text="document {i} " * 20, summary="gist {i}"):
    return "\n".join(json.dumps({"body": text.format(i=i), "gist": summary.format(i=i)}) for i in range(n)).encode()


def test_bundled_wiki_preview_shows_columns_table_and_first_page(open_page):
    app = open_page("dataset")
    shown = texts(app)
    assert "text ← `extract`, summary ← `description`, id ← `title`" in shown
    table = app.dataframe[0].value
    assert list(table.columns) == ["id", "text", "summary"] and len(table) == 20
    assert all(table["summary"].str.len() > 0)
    assert len(app.image) == 1 and "page 1 of 1" in app.image[0].proto.imgs[0].caption
    assert app.selectbox(key="dataset.text_column").options[0] == "automatic (detected)"
    assert "extract" in app.selectbox(key="dataset.text_column").options  # the corpus's own columns


def test_no_grey_example_looks_like_a_value(open_page):
    app = open_page("dataset")
    instruction = app.text_area(key="dataset.instruction")
    assert instruction.value == "" and not instruction.placeholder  # empty means empty, and says so
    assert "No instruction: the pages show the document only." in texts(app)


def test_upload_with_a_nul_byte_is_refused_next_to_the_uploader(open_page, workspace):
    app = open_page("dataset")
    app.radio(key="dataset.source_kind").set_value("Upload files").run()
    app.file_uploader(key="dataset.upload").upload("docs.csv", b"text,summary\nab\x00c,d\n", "text/csv")
    app.run()
    error = element_after(app, "dataset.upload")
    assert error.type == "error" and "NUL byte at line 2, column 3" in error.value
    assert not (workspace / "workspace" / "datasets" / "uploads" / "docs.csv").exists()


def test_column_fields_offer_the_files_columns_and_errors_name_the_fields(open_page):
    app = open_page("dataset")
    app.radio(key="dataset.source_kind").set_value("Upload files").run()
    app.file_uploader(key="dataset.upload").upload("docs.jsonl", rows(30), "application/json").run()
    error = app.error[0].value
    assert "cannot tell which column holds the summary" in error
    assert "choose it in the “Summary column” field" in error and "--summary-column" not in error  # the page's words
    assert app.selectbox(key="dataset.summary_column").options == ["automatic (detected)", "body", "gist"]
    app.selectbox(key="dataset.text_column").set_value("body")
    app.selectbox(key="dataset.summary_column").set_value("gist").run()
    assert not app.exception and not app.error
    table = app.dataframe[0].value
    assert table["summary"].tolist() == [f"gist {i}" for i in range(20)]


def test_switching_the_source_and_reloading_keep_the_other_settings(open_page):
    app = open_page("dataset")
    app.text_area(key="dataset.instruction").set_value("Summarize in one line:")
    app.number_input(key="dataset.limit").set_value(60)
    app.number_input(key="dataset.render.font_size").set_value(18).run()
    app.radio(key="dataset.source_kind").set_value("Upload files").run()  # no file yet: the page stops there
    app.radio(key="dataset.source_kind").set_value("Bundled corpus").run()
    assert app.text_area(key="dataset.instruction").value == "Summarize in one line:"
    assert app.number_input(key="dataset.limit").value == 60
    assert app.number_input(key="dataset.render.font_size").value == 18
    reloaded = open_page("dataset")
    assert reloaded.text_area(key="dataset.instruction").value == "Summarize in one line:"
    assert reloaded.number_input(key="dataset.limit").value == 60


def test_a_three_row_file_warns_about_its_splits_before_the_build(open_page):
    app = open_page("dataset")
    app.radio(key="dataset.source_kind").set_value("Upload files").run()
    app.file_uploader(key="dataset.upload").upload("three.jsonl", rows(3), "application/json").run()
    app.selectbox(key="dataset.text_column").set_value("body")
    app.selectbox(key="dataset.summary_column").set_value("gist").run()
    assert "A build keeps 3 documents: 1 train · 1 validation · 1 test." in texts(app)
    warnings = [w.value for w in app.warning]
    assert any(w.startswith("1 training document(s)") for w in warnings)
    assert any("1 validation and 1 test document(s)" in w for w in warnings)


def test_invalid_render_and_split_settings_show_errors_next_to_their_fields(open_page):
    app = open_page("dataset")
    app.number_input(key="dataset.render.font_size").set_value(2)
    app.number_input(key="dataset.test_fraction").set_value(0.95).run()
    font_error = element_after(app, "dataset.render.line_spacing")  # the slot under the page settings
    assert font_error.type == "error" and "font_size" in font_error.value and "[6, 400]" in font_error.value
    split_error = element_after(app, "dataset.workers")
    assert "test_fraction" in split_error.value
    assert not app.dataframe  # nothing previewed from invalid settings


def test_generate_then_browse_and_train_starts_from_it(open_page, workspace):
    app = open_page("dataset")
    app.number_input(key="dataset.limit").set_value(6)
    app.number_input(key="dataset.workers").set_value(1)
    for key, value in (("font_size", 12), ("page_width", 320), ("page_height", 240), ("margin", 8)):
        app.number_input(key=f"dataset.render.{key}").set_value(value)
    app.text_input(key="dataset.name").set_value("tiny-wiki").run()
    assert any("1 validation and 1 test" in w.value for w in app.warning)  # flagged before the build
    app.button(key="dataset.generate").click().run(timeout=120)
    assert not app.exception
    assert "Wrote" in app.success[0].value and "6 documents (4 train, 1 validation, 1 test)" in app.success[0].value
    built = workspace / "workspace" / "datasets" / "tiny-wiki"
    meta = json.loads((built / "deepsynth_dataset.json").read_text())
    assert meta["dataset_config"]["render"]["font_size"] == 12
    train = open_page("train")
    assert train.selectbox(key="train.dataset").value == str(built)

    app.segmented_control(key="dataset.mode").set_value("Browse").run()
    assert not app.exception
    assert [m.value for m in app.metric][:3] == ["4", "1", "1"]
    assert len(app.image) == 1
    summary = app.info[0].value
    text = app.text_area[0].value
    assert summary and text and summary != text


def test_the_render_settings_show_what_a_vlm_reads_per_page(open_page, workspace):
    """Vision tokens per page beside the page preview, for a VLM folder in workspace/models/, and
    they follow the render mode; the default model reads OCR text."""
    from deepsynth.estimate import vision_tokens_per_page
    from deepsynth.models.vlm.tiny import build_tiny_vlm
    from deepsynth.paths import models_dir
    from deepsynth.render.config import RenderConfig

    folder = build_tiny_vlm("idefics3", models_dir() / "tiny-idefics3")
    app = open_page("dataset")
    assert "reads the page as text" in texts(app)
    app.selectbox(key="dataset.reading_model").set_value(str(folder)).run()
    for mode in ("none", "tiny"):
        app.selectbox(key="dataset.render.mode").set_value(mode).run()
        size = RenderConfig(mode=mode).output_size
        tokens = vision_tokens_per_page(folder, *size)
        assert not app.exception
        assert f"Idefics3 (native vision-language model): {tokens} vision tokens per {size[0]}x{size[1]} page" \
            in texts(app), texts(app)[-2000:]


def test_every_render_and_filter_setting_has_a_widget_generated_from_its_config(open_page):
    """A setting added to RenderConfig or DatasetConfig appears on the page without a page edit."""
    from deepsynth.data import DatasetConfig
    from deepsynth.render import RenderConfig
    from deepsynth.settings import settings_of

    app = open_page("dataset")
    keys = {widget.key for kind in ("number_input", "selectbox", "checkbox", "text_input", "text_area")
            for widget in getattr(app, kind)}
    for found in settings_of(RenderConfig):
        assert f"dataset.render.{found.path}" in keys, found.path
    for found in settings_of(DatasetConfig, skip=("render", "source", "max_input_bytes")):
        assert f"dataset.{found.path}" in keys or found.path in ("language",), found.path
