"""Page sources: PDFs (text layer kept), images, manifests, LLaVA JSON; tasks and per-example prompts."""

from __future__ import annotations

import json

import pytest
from page_documents import encoded, image_pdf, page_image, text_pdf

from deepsynth.data import build_dataset, load_dataset_dir, read_metadata
from deepsynth.data.page_examples import collect_page_examples, parse_pages
from deepsynth.data.tasks import DEFAULT_PROMPTS
from deepsynth.errors import InputError


def _rows(out):
    loaded = load_dataset_dir(out)
    return {row["id"]: row for split in loaded.dataset.values() for row in split}, loaded


def _split_of(loaded):
    return {row_id: split for split, data in loaded.dataset.items() for row_id in data["id"]}


def test_transcribe_pdfs_without_a_manifest_one_example_per_page(tmp_path, make_config):
    folder = tmp_path / "pdfs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.pdf").write_bytes(text_pdf(["Alpha page one", "Alpha page two\nsecond line", "Alpha three"]))
    (folder / "sub" / "b.pdf").write_bytes(text_pdf(["Beta one", "Beta two"]))
    out = build_dataset(make_config(folder, task="transcribe", dpi=72), tmp_path / "out")
    rows, loaded = _rows(out)
    assert sorted(rows) == ["a-p0001", "a-p0002", "a-p0003", "sub-b-p0001", "sub-b-p0002"]
    row = rows["a-p0002"]
    assert row["summary"] == "Alpha page two\nsecond line" == row["page_texts"][0] == row["text"]
    assert row["prompt"] == DEFAULT_PROMPTS["transcribe"] and row["instruction"] == ""
    assert row["page_sources"] == [{"file": "a.pdf", "page": 2, "dpi": 72}]
    assert row["num_pages"] == 1 and row["pages"][0].size == (612, 792)  # 8.5 x 11 in at 72 DPI
    metadata = read_metadata(out)
    assert metadata["task"] == "transcribe" == metadata["dataset_config"]["task"]
    assert metadata["counts"]["kept"] == 5 and metadata["counts"]["pages"] == 5
    # split by document: all pages of one PDF in one split
    splits = _split_of(loaded)
    assert len({splits[i] for i in rows if i.startswith("a-")}) == 1
    assert len({splits[i] for i in rows if i.startswith("sub-b-")}) == 1


def test_dpi_sets_the_raster_size(tmp_path, make_config):
    path = tmp_path / "one.pdf"
    path.write_bytes(text_pdf(["Some text"], size=(144, 216)))
    rows, _ = _rows(build_dataset(make_config(path, task="transcribe", dpi=144), tmp_path / "out"))
    assert rows["one-p0001"]["pages"][0].size == (288, 432)
    assert rows["one-p0001"]["page_sources"][0]["dpi"] == 144


def test_images_of_every_format_with_a_csv_manifest(tmp_path, make_config):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.png").write_bytes(encoded(page_image("png"), "PNG"))
    (folder / "b.jpg").write_bytes(encoded(page_image("jpeg"), "JPEG", dpi=(300, 300)))
    (folder / "c.webp").write_bytes(encoded(page_image("webp"), "WEBP"))
    frames = [page_image(f"tiff {i}", mode="L") for i in range(3)]
    (folder / "d.tiff").write_bytes(encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]))
    (folder / "manifest.csv").write_text(
        "file,target,prompt,pages,id\n"
        "a.png,answer a,What is a?,,\n"
        "b.jpg,answer b,What is b?,1,B\n"
        "c.webp,answer c,,,\n"
        "d.tiff,answer d,What is on pages 2 and 3?,2-3,D\n", encoding="utf-8")
    out = build_dataset(make_config(folder, task="qa", prompt="What does the page say?"), tmp_path / "out")
    rows, _ = _rows(out)
    assert set(rows) == {"a-row1", "B", "c-row3", "D"}
    assert rows["B"]["page_sources"] == [{"file": "b.jpg", "page": 1, "dpi": 300}]
    assert rows["D"]["num_pages"] == 2 and [s["page"] for s in rows["D"]["page_sources"]] == [2, 3]
    assert rows["D"]["pages"][0].size == (200, 120)
    assert rows["c-row3"]["prompt"] == "What does the page say?"  # --prompt fills rows without one
    assert rows["a-row1"]["prompt"] == "What is a?" and rows["a-row1"]["summary"] == "answer a"
    assert rows["a-row1"]["text"] == "" and rows["a-row1"]["page_texts"] == [""]


def test_several_questions_about_one_document_stay_in_one_split(tmp_path, make_config):
    folder = tmp_path / "docs"
    folder.mkdir()
    lines = []
    for doc in range(8):
        (folder / f"doc{doc}.pdf").write_bytes(text_pdf([f"Document {doc}", "Second page"]))
        lines += [json.dumps({"file": f"doc{doc}.pdf", "target": f"answer {doc}.{q}", "prompt": f"Question {q}?",
                              "id": f"d{doc}q{q}", "pages": "1" if q else "1-2"}) for q in range(3)]
    manifest = tmp_path / "elsewhere.jsonl"  # --manifest FILE outside the folder
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = make_config(folder, task="qa", manifest=str(manifest), dpi=36, validation_fraction=0.25,
                         test_fraction=0.25)
    rows, loaded = _rows(build_dataset(config, tmp_path / "out"))
    assert len(rows) == 24
    splits = _split_of(loaded)
    for doc in range(8):
        assert len({splits[f"d{doc}q{q}"] for q in range(3)}) == 1, f"doc{doc} is in two splits"
    assert {len(data) for data in loaded.dataset.values()} == {6, 12}  # 2 + 2 + 4 documents of 3 rows
    assert rows["d3q0"]["num_pages"] == 2 and rows["d3q1"]["page_texts"] == ["Document 3"]


def test_llava_sharegpt_and_messages_json(tmp_path, make_config):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "p1.png").write_bytes(encoded(page_image("one"), "PNG"))
    (tmp_path / "img" / "p2.png").write_bytes(encoded(page_image("two"), "PNG"))
    items = [
        {"id": "x", "image": "img/p1.png", "conversations": [
            {"from": "system", "value": "You read documents."},
            {"from": "human", "value": "<image>\nWhat is the title?"}, {"from": "gpt", "value": "One"},
            {"from": "human", "value": "And the year?"}, {"from": "gpt", "value": "1999"}]},
        {"id": "y", "images": ["img/p1.png", "img/p2.png"], "messages": [
            {"role": "user", "content": "<image><image>Compare the pages."},
            {"role": "assistant", "content": "They differ."}]},
    ]
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    rows, loaded = _rows(build_dataset(make_config(path, task="qa"), tmp_path / "out"))
    assert set(rows) == {"x-1", "x-2", "y"}
    assert rows["x-1"]["prompt"] == "What is the title?" and rows["x-1"]["summary"] == "One"
    assert rows["x-2"]["prompt"] == "And the year?" and rows["x-2"]["summary"] == "1999"
    assert rows["y"]["num_pages"] == 2 and [s["file"] for s in rows["y"]["page_sources"]] == ["img/p1.png", "img/p2.png"]
    splits = _split_of(loaded)
    assert splits["x-1"] == splits["x-2"] == splits["y"]  # they share p1.png


def test_text_table_with_target_and_prompt_columns(tmp_path, make_config, write_file):
    rows = [{"id": f"r{i}", "text": f"Paper {i} studies topic {i}.", "target": f"Topic {i}",
             "prompt": f"What does paper {i} study?"} for i in range(4)]
    path = write_file("qa.jsonl", "\n".join(json.dumps(r) for r in rows))
    out = build_dataset(make_config(path, task="qa"), tmp_path / "out")
    built, _ = _rows(out)
    assert built["r2"]["summary"] == "Topic 2" and built["r2"]["prompt"] == "What does paper 2 study?"
    assert built["r2"]["page_sources"] == [] and read_metadata(out)["columns"]["prompt"] == "prompt"


def test_blank_pages_are_kept_and_counted(tmp_path, make_config):
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "blank.pdf").write_bytes(image_pdf(2, blank=True))
    (folder / "inked.pdf").write_bytes(image_pdf(1))
    (folder / "manifest.csv").write_text("file,target\nblank.pdf,nothing here\ninked.pdf,scan 0\n", encoding="utf-8")
    out = build_dataset(make_config(folder, task="summarize", dpi=72), tmp_path / "out")
    metadata = read_metadata(out)
    assert metadata["counts"]["blank_pages"] == 2 and metadata["counts"]["kept"] == 2
    assert any("2 blank page(s) (no ink) kept: blank-row1 page 1, blank-row1 page 2" in w for w in metadata["warnings"])


def test_transcribe_drops_scans_without_a_text_layer_and_says_so(tmp_path, make_config):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "text.pdf").write_bytes(text_pdf(["Real text"]))
    (folder / "scan.pdf").write_bytes(image_pdf(1))
    out = build_dataset(make_config(folder, task="transcribe", dpi=36), tmp_path / "out")
    metadata = read_metadata(out)
    assert metadata["counts"]["kept"] == 1 and metadata["counts"]["dropped_no_text_layer"] == 1
    assert any("no text layer" in w and "scan-p0001" in w for w in metadata["warnings"])


def test_unnamed_files_are_a_warning(tmp_path, make_config):
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "named.png").write_bytes(encoded(page_image("n"), "PNG"))
    (folder / "forgotten.png").write_bytes(encoded(page_image("f"), "PNG"))
    (folder / "manifest.csv").write_text("file,target\nnamed.png,ok\n", encoding="utf-8")
    page_set = collect_page_examples(make_config(folder))
    assert page_set.counts["unnamed_files"] == 1
    assert any("1 page file(s)" in w and "forgotten.png" in w for w in page_set.warnings)


@pytest.mark.parametrize("spec, expected", [("1-3", (0, 1, 2)), ("2", (1,)), ("1,4-5", (0, 3, 4)), ("4-", (3, 4))])
def test_page_ranges(spec, expected):
    assert parse_pages(spec, 5, "m.csv line 2") == expected


@pytest.mark.parametrize("spec, message", [("0-2", "not a range"), ("3-1", "not a range"), ("x", "expected page numbers"),
                                           ("4-9", r"go past the end of the file \(5 page")])
def test_bad_page_ranges(spec, message):
    with pytest.raises(InputError, match=message):
        parse_pages(spec, 5, "m.csv line 2")


def test_pages_are_greyscale_unless_colour_is_asked_for(tmp_path, make_config):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "t.pdf").write_bytes(text_pdf(["Colour or not"]))
    red = page_image("x")
    red.paste((255, 0, 0), (0, 0, 20, 20))
    (folder / "r.png").write_bytes(encoded(red.convert("RGBA"), "PNG"))
    (folder / "manifest.csv").write_text("file,target\nt.pdf,a\nr.png,b\n", encoding="utf-8")
    grey, _ = _rows(build_dataset(make_config(folder, dpi=36), tmp_path / "grey"))
    assert {row["pages"][0].mode for row in grey.values()} == {"L"}
    colour, _ = _rows(build_dataset(make_config(folder, dpi=36, page_color=True), tmp_path / "colour"))
    assert {row["pages"][0].mode for row in colour.values()} == {"RGB"}
    assert colour["r-row2"]["pages"][0].getpixel((5, 5)) == (255, 0, 0)


def _image_dataset(multi: bool = False):
    """6 rows, 2 questions per page image (identical bytes), Hugging Face Image features."""
    import datasets

    pictures = [encoded(page_image(f"form {i}", size=(160, 100)), "PNG") for i in range(3)]
    rows = {"question": [], "answers": [], "image": []}
    for i, data in enumerate(pictures):
        for q in range(2):
            rows["question"].append(f"Field {q} of form {i}?")
            rows["answers"].append([f"value {i}.{q}", "alternative"])
            rows["image"].append([{"bytes": data, "path": None}] * 2 if multi else {"bytes": data, "path": None})
    image = datasets.List(datasets.Image()) if multi else datasets.Image()
    features = datasets.Features({"question": datasets.Value("string"), "answers": datasets.List(datasets.Value("string")),
                                  "image": image})
    return datasets.Dataset.from_dict(rows, features=features)


def test_hugging_face_save_to_disk_folder_with_an_image_column(tmp_path, make_config, hf_cache):
    _image_dataset().save_to_disk(str(tmp_path / "docvqa"))
    config = make_config(f"hf:{tmp_path / 'docvqa'}", task="qa", validation_fraction=0.34, test_fraction=0.0)
    rows, loaded = _rows(build_dataset(config, tmp_path / "out"))
    assert len(rows) == 6
    row = rows["docvqa-000003"]
    assert row["prompt"] == "Field 1 of form 1?" and row["summary"] == "value 1.1"  # the first answer
    assert row["page_sources"] == [{"file": "docvqa row 3", "page": 1, "dpi": 0}] and row["pages"][0].size == (160, 100)
    splits = _split_of(loaded)
    for form in range(3):  # both questions about one page image share its split
        assert splits[f"docvqa-{2 * form:06d}"] == splits[f"docvqa-{2 * form + 1:06d}"]
    assert read_metadata(tmp_path / "out")["columns"] == {"file": "image", "target": "answers", "prompt": "question",
                                                          "id": None, "pages": None}


def test_parquet_with_image_bytes_and_several_pages_per_row(tmp_path, make_config, hf_cache):
    path = tmp_path / "forms.parquet"
    _image_dataset(multi=True).to_parquet(str(path))
    rows, _ = _rows(build_dataset(make_config(path, task="qa"), tmp_path / "out"))
    row = rows["forms-000000"]
    assert row["num_pages"] == 2 and [s["file"] for s in row["page_sources"]] == [
        "forms.parquet row 0 image 1", "forms.parquet row 0 image 2"]


def test_transcribe_a_text_corpus_targets_its_own_text(tmp_path, make_config, docs_jsonl):
    out = build_dataset(make_config(docs_jsonl, task="transcribe"), tmp_path / "out")
    rows, _ = _rows(out)
    assert all(row["summary"] == row["text"] and row["prompt"] == DEFAULT_PROMPTS["transcribe"] for row in rows.values())
    assert read_metadata(out)["columns"]["summary"] == "text"


def test_llava_jsonl_with_messages(tmp_path, make_config):
    (tmp_path / "p.png").write_bytes(encoded(page_image("p"), "PNG"))
    lines = [{"messages": [{"role": "user", "content": "<image>Read it."}, {"role": "assistant", "content": f"p {i}"}],
              "images": ["p.png"], "id": f"m{i}"} for i in range(3)]
    path = tmp_path / "swift.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    rows, _ = _rows(build_dataset(make_config(path, task="custom"), tmp_path / "out"))
    assert sorted(rows) == ["m0", "m1", "m2"] and rows["m1"]["prompt"] == "Read it." and rows["m1"]["summary"] == "p 1"


def test_a_manifest_named_as_the_source_reads_its_folder(tmp_path, make_config):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.png").write_bytes(encoded(page_image("a"), "PNG"))
    (folder / "manifest.csv").write_text("file,target\na.png,the answer\n", encoding="utf-8")
    rows, _ = _rows(build_dataset(make_config(folder / "manifest.csv"), tmp_path / "out"))
    assert rows["a-row1"]["summary"] == "the answer"


def test_preview_shows_thumbnails_provenance_text_layer_and_target(tmp_path, make_config):
    from deepsynth.data.page_preview import THUMBNAIL, preview_page_examples

    path = tmp_path / "two.pdf"
    path.write_bytes(text_pdf(["First page words", "Second page words"]))
    previews = preview_page_examples(make_config(path, task="transcribe"), n=1)
    assert len(previews) == 1
    first = previews[0]
    assert (first.id, first.target, first.prompt) == ("two-p0001", "First page words", DEFAULT_PROMPTS["transcribe"])
    page = first.pages[0]
    assert (page.file, page.page, page.dpi, page.text, page.blank) == ("two.pdf", 1, 144, "First page words", False)
    assert max(page.thumbnail.size) == THUMBNAIL
    assert not (tmp_path / "out").exists()


def test_limit_and_same_named_files_in_a_folder(tmp_path, make_config):
    folder = tmp_path / "f"
    (folder / "a").mkdir(parents=True)
    (folder / "a-b.pdf").write_bytes(text_pdf(["one", "two"]))
    (folder / "a" / "b.pdf").write_bytes(text_pdf(["three"]))
    every = collect_page_examples(make_config(folder, task="transcribe"))
    ids = [e.id for e in every.examples]
    assert len(ids) == 3 and len(set(ids)) == 3 and {i.rsplit("-p", 1)[0] for i in ids} == {"a-b", "a-b-2"}
    limited = collect_page_examples(make_config(folder, task="transcribe", limit=2))
    assert [e.id for e in limited.examples] == ids[:2]


def test_a_prompt_column_is_given_as_text_and_never_rendered(tmp_path, make_config, write_file):
    plain = [{"id": f"r{i}", "text": f"Document {i} about birds.", "summary": f"Birds {i}."} for i in range(3)]
    asked = [{**row, "prompt": "Which animals does it name?"} for row in plain]
    without = build_dataset(make_config(write_file("plain.jsonl", "\n".join(json.dumps(r) for r in plain))),
                            tmp_path / "without")
    with_prompt = build_dataset(make_config(write_file("asked.jsonl", "\n".join(json.dumps(r) for r in asked))),
                                tmp_path / "with")
    a, _ = _rows(without)
    b, _ = _rows(with_prompt)
    for row_id in a:
        assert [p.tobytes() for p in a[row_id]["pages"]] == [p.tobytes() for p in b[row_id]["pages"]]
        assert (a[row_id]["prompt"], b[row_id]["prompt"]) == ("", "Which animals does it name?")


def test_cli_builds_from_a_folder_of_pdfs(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(text_pdf(["One", "Two", "Three"]))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "deepsynth", "dataset", "--source", str(folder), "--task", "transcribe",
                             "--dpi", "36", "--workers", "1", "--out", str(tmp_path / "out"), "--no-progress"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3 examples (" in result.stdout and "3 pages" in result.stdout and "task transcribe" in result.stdout
    assert read_metadata(tmp_path / "out")["dataset_config"]["dpi"] == 36


def test_text_record_readers_point_page_sources_to_the_page_preview(tmp_path, make_config):
    from deepsynth.data import preview_records

    path = tmp_path / "a.pdf"
    path.write_bytes(text_pdf(["x"]))
    with pytest.raises(InputError, match=r"a\.pdf: page files have no text rows to read; .*preview_page_examples"):
        preview_records(make_config(path))
