"""Dataset page uploads: PDFs (made here), images, a ZIP with a manifest, a LLaVA JSON with its
images; ZIPs that reach outside themselves refused with the entry named; the upload limit stated
as Streamlit runs it; the task's primary metric beside the picker; and the page's own words and
numbers (issue 22 item 8): the Replace checkbox, the rows actually there, a header-only file."""

from __future__ import annotations

import io
import json
import stat
import zipfile

from dashboard_testing import element_after, texts
from data.page_documents import encoded, page_image, text_pdf


def zipped(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return out.getvalue()


def upload(app, *files):
    app.radio(key="dataset.source_kind").set_value("Upload files").run()
    uploader = app.file_uploader(key="dataset.upload")
    uploader.set_value([(name, data, "application/octet-stream") for name, data in files])
    app.run()
    assert not app.exception, app.exception
    return app


def uploads_folder(workspace):
    return workspace / "workspace" / "datasets" / "uploads"


def test_a_pdf_with_a_text_layer_needs_no_manifest_under_transcribe(open_page, workspace):
    app = open_page("dataset")
    assert "Upload limit: 200 MB per file" not in texts(app)
    app.selectbox(key="dataset.task").set_value("transcribe")
    upload(app, ("report.pdf", text_pdf(["First page says hello", "Second page says goodbye"])))
    shown = texts(app)
    assert "Upload limit: 200 MB per file" in shown  # Streamlit's server.maxUploadSize as it runs
    assert "Primary metric: CER (lower is better)" in shown or "Primary metric: Character error rate" in shown, shown
    assert "2 examples from 1 document(s); a build splits them 2 train" in shown
    captions = [image.proto.imgs[0].caption for image in app.image]
    assert captions == ["report.pdf · page 1 · 144 DPI", "report.pdf · page 2 · 144 DPI"]
    assert [code.value for code in app.code][:2] == ["First page says hello", "Second page says goodbye"]
    assert "3 · Rendering" not in shown  # the pages are the file's own: nothing to render
    app.text_input(key="dataset.name").set_value("report-pages").run()
    app.button(key="dataset.generate").click().run(timeout=120)
    assert not app.exception, app.exception
    assert "2 examples (" in app.success[0].value and "2 pages" in app.success[0].value
    meta = json.loads((workspace / "workspace" / "datasets" / "report-pages" / "deepsynth_dataset.json").read_text())
    assert meta["dataset_config"]["task"] == "transcribe"


def test_other_tasks_on_a_pdf_ask_for_a_manifest_in_the_pages_words(open_page):
    app = open_page("dataset")
    app.selectbox(key="dataset.task").set_value("qa")
    upload(app, ("report.pdf", text_pdf(["A page"])))
    error = app.error[0].value
    assert error.startswith("These pages have no targets for the qa task. Choose **transcribe** in “Task”")
    assert "manifest.csv or manifest.jsonl" in error and "--" not in error
    assert "Primary metric: ANLS" in texts(app)


def test_several_images_at_once_are_one_example_each(open_page):
    app = open_page("dataset")
    app.selectbox(key="dataset.task").set_value("transcribe")
    scan = encoded(page_image("A scanned page"), "PNG")
    photo = encoded(page_image("A photo of a page"), "JPEG")
    upload(app, ("scan.png", scan), ("photo.jpg", photo))
    captions = sorted(image.proto.imgs[0].caption for image in app.image)
    assert captions == ["photo.jpg · page 1 · no DPI stated", "scan.png · page 1 · no DPI stated"]
    # images carry no text layer: without a manifest there is nothing to transcribe, and the page says so
    assert any("no text layer to transcribe" in w.value for w in app.warning)


def test_a_zip_with_a_manifest_shows_targets_and_prompts_and_builds(open_page, workspace):
    app = open_page("dataset")
    app.selectbox(key="dataset.task").set_value("qa")
    manifest = "\n".join(json.dumps(row) for row in [
        {"file": "papers/a.pdf", "target": "Paris", "prompt": "Which city?", "id": "a-city"},
        {"file": "papers/a.pdf", "target": "1889", "prompt": "Which year?", "id": "a-year"},
        {"file": "papers/b.pdf", "target": "Rome", "prompt": "Which city?", "id": "b-city", "pages": "2"},
        {"file": "papers/c.pdf", "target": "Oslo", "prompt": "Which city?", "id": "c-city"},
    ])
    archive = zipped({"manifest.jsonl": manifest.encode(), "papers/a.pdf": text_pdf(["Paris, 1889"]),
                      "papers/b.pdf": text_pdf(["cover", "Rome"]), "papers/c.pdf": text_pdf(["Oslo"])})
    upload(app, ("questions.zip", archive))
    shown = texts(app)
    assert "4 examples from 3 document(s); a build splits them" in shown
    prompts = [text.value for text in app.text]
    assert "Which city?" in prompts and "Which year?" in prompts
    assert [code.value for code in app.code][:3] == ["Paris", "1889", "Rome"]
    assert "papers/b.pdf · page 2 · 144 DPI" in [image.proto.imgs[0].caption for image in app.image]
    app.text_input(key="dataset.name").set_value("questions").run()
    app.button(key="dataset.generate").click().run(timeout=120)
    assert not app.exception and "4 examples (" in app.success[0].value
    app.segmented_control(key="dataset.mode").set_value("Browse").run()  # the built pages keep their provenance
    assert not app.exception, app.exception
    caption = app.image[0].proto.imgs[0].caption
    assert caption.split(" · ", 1)[1] in {"papers/a.pdf page 1 · 144 DPI", "papers/b.pdf page 2 · 144 DPI",
                                          "papers/c.pdf page 1 · 144 DPI"}, caption
    assert app.info[0].value in {"Paris", "1889", "Rome", "Oslo"}


def test_a_zip_reaching_outside_itself_is_refused_and_nothing_is_unpacked(open_page, workspace):
    app = open_page("dataset")
    upload(app, ("evil.zip", zipped({"manifest.csv": b"file,target\na.pdf,x\n", "../escape.pdf": text_pdf(["x"])})))
    error = element_after(app, "dataset.upload")
    assert error.type == "error"
    assert "evil.zip: refused: entry '../escape.pdf': '..' in its path points outside the ZIP (zip slip)" in error.value
    assert not (workspace / "workspace" / "datasets" / "escape.pdf").exists()
    assert not any(uploads_folder(workspace).glob("*/manifest.csv"))

    upload(app, ("linked.zip", zipped({"manifest.csv": b"file,target\na.pdf,x\n"}, links={"a.pdf": "/etc/passwd"})))
    error = element_after(app, "dataset.upload")
    assert error.type == "error" and "linked.zip: refused: entry 'a.pdf' is a symbolic link" in error.value
    assert not any(uploads_folder(workspace).glob("linked*"))


def test_a_llava_json_with_its_images_in_a_zip(open_page):
    app = open_page("dataset")
    app.selectbox(key="dataset.task").set_value("qa")
    items = [{"id": "inv-1", "image": "images/invoice.png",
              "conversations": [{"from": "human", "value": "<image>\nWhat is the total?"},
                                {"from": "gpt", "value": "42 EUR"}]}]
    images = zipped({"images/invoice.png": encoded(page_image("Total: 42 EUR"), "PNG")})
    upload(app, ("train.json", json.dumps(items).encode()), ("images.zip", images))
    shown = texts(app)
    assert "What is the total?" in [text.value for text in app.text] and "42 EUR" in [code.value for code in app.code]
    assert "Targets from assistant turns" in shown
    assert [image.proto.imgs[0].caption for image in app.image] == ["images/invoice.png · page 1 · no DPI stated"]


def test_a_llava_json_alone_asks_for_its_images(open_page):
    app = open_page("dataset")
    items = [{"image": "a.png", "conversations": [{"from": "human", "value": "<image> Q"}, {"from": "gpt", "value": "A"}]}]
    upload(app, ("train.json", json.dumps(items).encode()))
    assert "upload it together with its images" in element_after(app, "dataset.upload").value


def test_an_existing_name_names_the_replace_checkbox_not_cli_flags(open_page, workspace):
    existing = workspace / "workspace" / "datasets" / "taken"
    existing.mkdir(parents=True)
    (existing / "notes.txt").write_text("someone's files")
    app = open_page("dataset")
    app.number_input(key="dataset.limit").set_value(6)
    app.text_input(key="dataset.name").set_value("taken").run()
    app.button(key="dataset.generate").click().run(timeout=120)
    error = app.error[0].value
    assert "“Dataset name”" in error and "“Replace an existing dataset of that name”" in error
    assert "--out" not in error and "--overwrite" not in error


def test_a_30_row_file_says_30_documents_not_the_limit(open_page):
    app = open_page("dataset")
    data = "\n".join(json.dumps({"text": f"document {i} " * 20, "summary": f"gist {i}"}) for i in range(30))
    upload(app, ("thirty.jsonl", data.encode()))
    assert app.number_input(key="dataset.limit").value == 200  # the first-build limit, above the file's rows
    shown = texts(app)
    assert "A build keeps 30 documents: 24 train · 3 validation · 3 test." in shown
    assert "200" not in shown.split("A build keeps", 1)[1].split("\n", 1)[0]
    assert not any("±" in w.value for w in app.warning)  # no interval promised from fixed text


def test_a_header_only_csv_says_it_has_no_rows(open_page):
    app = open_page("dataset")
    upload(app, ("empty.csv", b"title,body_text\n"))
    error = app.error[0].value
    assert "the file has no rows" in error and "cannot tell which column" not in error


def test_a_local_folder_of_pdfs_takes_the_page_flow_and_is_told_to_add_a_manifest(open_page, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "memo.pdf").write_bytes(text_pdf(["A memo"]))
    app = open_page("dataset")
    app.radio(key="dataset.source_kind").set_value("Local path").run()
    app.text_input(key="dataset.path").set_value(str(folder)).run()
    assert not app.exception, app.exception
    error = app.error[0].value
    assert "These pages have no targets for the summarize task" in error
    assert "add a manifest to the folder (or name one in “Manifest”)" in error
    app.selectbox(key="dataset.task").set_value("transcribe").run()
    assert [image.proto.imgs[0].caption for image in app.image] == ["memo.pdf · page 1 · 144 DPI"]
