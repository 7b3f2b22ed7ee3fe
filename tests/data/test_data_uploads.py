"""deepsynth.data.uploads: what the Dataset page saves from an upload, and what it refuses (each a
clear message naming the file or entry, nothing left behind); and a JSON-lines manifest whose
optional columns appear only on later rows."""

from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest
from page_documents import encoded, page_image, text_pdf

from deepsynth.data import DatasetConfig
from deepsynth.data.page_examples import collect_page_examples, page_source_kind
from deepsynth.data.uploads import UploadLimits, save_uploads
from deepsynth.errors import InputError

MB = 1024 * 1024


def zipped(entries: dict[str, bytes], mode: int | None = None, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if mode is not None:
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return out.getvalue()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_page_files_go_into_a_folder_named_by_their_content_and_a_rerun_reuses_it(tmp_path):
    pdf = text_pdf(["one"])
    first = save_uploads([("a.pdf", pdf), ("b.png", encoded(page_image("b"), "PNG"))], tmp_path, 10 * MB)
    assert first.kind == "pages" and sorted(p.name for p in first.source.iterdir() if p.suffix) == ["a.pdf", "b.png"]
    marker = first.source / ".upload-complete"
    stamp = marker.stat().st_mtime_ns
    again = save_uploads([("b.png", encoded(page_image("b"), "PNG")), ("a.pdf", pdf)], tmp_path, 10 * MB)
    assert again.source == first.source and marker.stat().st_mtime_ns == stamp  # nothing rewritten
    assert page_source_kind(DatasetConfig(source=str(first.source), task="transcribe")) == "folder"


def test_a_zip_wrapping_one_folder_with_macos_entries_reads_that_folder(tmp_path):
    manifest = b"file,target\na.pdf,hello\n"
    archive = zipped({"batch/manifest.csv": manifest, "batch/a.pdf": text_pdf(["hello"]),
                      "__MACOSX/batch/._a.pdf": b"\x00\x05", "batch/.DS_Store": b"junk"})
    saved = save_uploads([("batch.zip", archive)], tmp_path, 10 * MB)
    assert saved.source.name == "batch" and sorted(p.name for p in saved.source.iterdir()) == ["a.pdf", "manifest.csv"]
    examples = collect_page_examples(DatasetConfig(source=str(saved.source), task="summarize")).examples
    assert [(e.target, e.pages) for e in examples] == [("hello", (("a.pdf", 0),))]


@pytest.mark.parametrize("entries, mode, message", [
    ({"../up.pdf": b"%PDF-"}, None, r"entry '\.\./up\.pdf': '\.\.' in its path points outside the ZIP \(zip slip\)"),
    ({"/etc/cron.d/x.pdf": b"%PDF-"}, None, r"absolute path points outside the ZIP"),
    ({"a.pdf": b"/etc/passwd"}, stat.S_IFLNK | 0o777, r"entry 'a\.pdf' is a symbolic link"),
    ({"run.py": b"print(1)"}, None, r"run\.py: file type '\.py' is not allowed in a dataset ZIP"),
])
def test_a_zip_is_refused_by_the_package_import_checks_and_nothing_is_kept(tmp_path, entries, mode, message):
    with pytest.raises(InputError, match=r"^bad\.zip: refused: " + message if message.startswith("entry") else message):
        save_uploads([("bad.zip", zipped(entries, mode))], tmp_path, 10 * MB)
    assert leftovers(tmp_path) == []


def test_a_zip_bomb_and_too_many_entries_are_refused_from_the_directory(tmp_path):
    bomb = zipped({"a.pdf": b"\0" * (4 * MB)})
    with pytest.raises(InputError, match=r"entry 'a\.pdf' inflates [\d,]+x .*zip bomb"):
        save_uploads([("bomb.zip", bomb)], tmp_path, 10 * MB)
    many = zipped({f"p{i}.png": b"x" for i in range(5)})
    with pytest.raises(InputError, match=r"too many entries: 5 \(limit 4\)"):
        save_uploads([("many.zip", many)], tmp_path, 10 * MB, UploadLimits(max_entries=4))
    assert leftovers(tmp_path) == []


def test_the_upload_limit_and_lying_names_are_refused_naming_the_file(tmp_path):
    with pytest.raises(InputError, match=r"big\.pdf: the file is 2\.0 MiB, over the 1\.0 MiB limit \(the upload size limit\)"):
        save_uploads([("big.pdf", b"%PDF-" + b"0" * (2 * MB))], tmp_path, MB)
    with pytest.raises(InputError, match=r"scan\.pdf: the name says PDF but the content is a PNG file"):
        save_uploads([("scan.pdf", encoded(page_image("x"), "PNG"))], tmp_path, MB)
    with pytest.raises(InputError, match=r"notes\.docx: not a file the Dataset page reads"):
        save_uploads([("notes.docx", b"PK")], tmp_path, MB)
    with pytest.raises(InputError, match=r"one ZIP at a time"):
        save_uploads([("a.zip", zipped({"a.png": b"x"})), ("b.zip", zipped({"b.png": b"x"}))], tmp_path, MB)
    assert leftovers(tmp_path) == []


def llava(image: str) -> bytes:
    return json.dumps([{"id": "q1", "image": image, "conversations": [
        {"from": "human", "value": "<image>\nWhat does it say?"}, {"from": "gpt", "value": "hello"}]}]).encode()


def test_a_llava_json_with_its_images_given_as_files_or_in_a_zip(tmp_path):
    png = encoded(page_image("hello"), "PNG")
    loose = save_uploads([("train.json", llava("page.png")), ("page.png", png)], tmp_path / "a", 10 * MB)
    in_zip = save_uploads([("train.json", llava("img/page.png")), ("img.zip", zipped({"img/page.png": png}))],
                          tmp_path / "b", 10 * MB)
    for saved in (loose, in_zip):
        assert saved.kind == "llava" and saved.source.name == "train.json"
        examples = collect_page_examples(DatasetConfig(source=str(saved.source), task="qa")).examples
        assert [(e.prompt, e.target) for e in examples] == [("What does it say?", "hello")]


@pytest.mark.parametrize("image", ["/etc/hosts.png", "~/secret.png", "../other/page.png"])
def test_a_llava_json_may_not_name_files_outside_the_upload(tmp_path, image):
    with pytest.raises(InputError, match=r"must be a path inside the upload"):
        save_uploads([("train.json", llava(image)), ("page.png", encoded(page_image("x"), "PNG"))], tmp_path, 10 * MB)


def test_a_jsonl_manifest_reads_optional_columns_that_only_later_rows_have(tmp_path):
    (tmp_path / "a.pdf").write_bytes(text_pdf(["Paris"]))
    (tmp_path / "b.pdf").write_bytes(text_pdf(["cover", "Rome"]))
    rows = [{"file": "a.pdf", "target": "Paris"}, {"file": "b.pdf", "target": "Rome", "pages": "2", "id": "b-city"}]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    examples = collect_page_examples(DatasetConfig(source=str(tmp_path), task="summarize")).examples
    assert [(e.id, e.pages) for e in examples] == [("a-row1", (("a.pdf", 0),)), ("b-city", (("b.pdf", 1),))]
