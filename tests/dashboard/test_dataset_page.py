"""Dataset page: preview of a bundled corpus, upload checks, invalid settings, generate, browse."""

import json

from dashboard_testing import element_after, texts


def test_bundled_wiki_preview_shows_columns_table_and_first_page(open_page):
    app = open_page("dataset")
    shown = texts(app)
    assert "text ← `extract`, summary ← `description`, id ← `title`" in shown
    table = app.dataframe[0].value
    assert list(table.columns) == ["id", "text", "summary"] and len(table) == 20
    assert all(table["summary"].str.len() > 0)
    assert len(app.image) == 1 and "page 1 of 1" in app.image[0].proto.imgs[0].caption


def test_upload_with_a_nul_byte_is_refused_next_to_the_uploader(open_page, workspace):
    app = open_page("dataset")
    app.radio(key="dataset.source_kind").set_value("Upload a file").run()
    app.file_uploader(key="dataset.upload").upload("docs.csv", b"text,summary\nab\x00c,d\n", "text/csv")
    app.run()
    error = element_after(app, "dataset.upload")
    assert error.type == "error" and "NUL byte at line 2, column 3" in error.value
    assert not (workspace / "workspace" / "datasets" / "uploads" / "docs.csv").exists()


def test_upload_with_missing_summary_column_names_the_columns(open_page):
    app = open_page("dataset")
    app.radio(key="dataset.source_kind").set_value("Upload a file").run()
    rows = "\n".join(json.dumps({"body": f"document {i} " * 20, "gist": f"gist {i}"}) for i in range(6))
    app.file_uploader(key="dataset.upload").upload("docs.jsonl", rows.encode(), "application/json").run()
    assert "cannot tell which column holds the summary" in texts(app)
    app.text_input(key="dataset.text_column").set_value("body")
    app.text_input(key="dataset.summary_column").set_value("gist").run()
    assert not app.exception
    table = app.dataframe[0].value
    assert table["summary"].tolist() == [f"gist {i}" for i in range(6)]


def test_invalid_render_and_split_settings_show_errors_next_to_their_fields(open_page):
    app = open_page("dataset")
    app.number_input(key="dataset.render.font_size").set_value(2)
    app.number_input(key="dataset.test_fraction").set_value(0.95).run()
    font_error = element_after(app, "dataset.render.max_pages")  # the slot under the first render row
    assert font_error.type == "error" and "font_size" in font_error.value and "[6, 400]" in font_error.value
    split_error = element_after(app, "dataset.workers")
    assert "test_fraction" in split_error.value
    assert not app.dataframe  # nothing previewed from invalid settings


def test_generate_then_browse(open_page, workspace):
    app = open_page("dataset")
    app.number_input(key="dataset.limit").set_value(6)
    app.number_input(key="dataset.workers").set_value(1)
    for key, value in (("font_size", 12), ("page_width", 320), ("page_height", 240), ("margin", 8)):
        app.number_input(key=f"dataset.render.{key}").set_value(value)
    app.text_input(key="dataset.name").set_value("tiny-wiki").run()
    app.button(key="dataset.generate").click().run(timeout=120)
    assert not app.exception
    assert "Wrote" in app.success[0].value and "6 documents (4 train, 1 validation, 1 test)" in app.success[0].value
    meta = json.loads((workspace / "workspace" / "datasets" / "tiny-wiki" / "deepsynth_dataset.json").read_text())
    assert meta["dataset_config"]["render"]["font_size"] == 12

    app.segmented_control(key="dataset.mode").set_value("Browse").run()
    assert not app.exception
    assert [m.value for m in app.metric][:3] == ["4", "1", "1"]
    assert len(app.image) == 1
    summary = app.info[0].value
    text = app.text_area[0].value
    assert summary and text and summary != text
