"""Bad page inputs: each a clear InputError naming the file or row, and nothing left on disk.

Documents are made here (no binary fixtures): hand-written PDFs with a text layer, Pillow images
and PDFs, pypdfium2's empty pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from page_documents import (encoded, encrypted_pdf, many_pages_pdf, page_image, png_claiming_size,
                            text_pdf)

from deepsynth.data import build_dataset
from deepsynth.errors import InputError

PNG = encoded(page_image("page"), "PNG")


def _manifest(rows: list[dict]) -> str:
    return "\n".join(json.dumps(row) for row in rows) + "\n"


# (case id, {file name: bytes or str}, DatasetConfig overrides, expected message regex)
# A folder "in" holds the files; the source is the folder, or the single file named by "source".
CASES = [
    ("encrypted-pdf", {"secret.pdf": encrypted_pdf()}, {"task": "transcribe"},
     r"secret\.pdf: the PDF is encrypted \(password-protected\)"),
    ("corrupt-pdf", {"broken.pdf": b"%PDF-1.4\n" + b"\x13garbage" * 40 + b"\n%%EOF\n"}, {"task": "transcribe"},
     r"broken\.pdf: not a readable PDF \(corrupt\)"),
    ("truncated-pdf", {"cut.pdf": text_pdf(["A page", "Another"])[:-120]}, {"task": "transcribe"},
     r"cut\.pdf: the PDF is truncated \(no %%EOF marker"),
    ("thousands-of-pages", {"huge.pdf": many_pages_pdf(3000), "manifest.jsonl": _manifest([{"file": "huge.pdf", "target": "t"}])},
     {}, r"manifest\.jsonl line 1: huge\.pdf: 3000 pages, over the cap of 16 pages per example "
         r"\(max_document_pages / --max-document-pages\)"),
    ("decompression-bomb-header", {"bomb.png": png_claiming_size(30000, 30000)}, {"task": "transcribe"},
     r"bomb\.png: refused as a decompression bomb"),
    ("over-the-pixel-limit", {"big.png": png_claiming_size(8000, 8000)}, {"task": "transcribe"},
     r"big\.png: 8000 x 8000 = 64 million pixels, over the 40 million limit \(max_page_pixels\)"),
    ("pdf-page-too-large-at-dpi", {"poster.pdf": text_pdf(["x"], size=(7200, 7200))}, {"task": "transcribe", "dpi": 144},
     r"poster\.pdf: page 1 is 100\.0 x 100\.0 in; at 144 DPI that is 207 million pixels.*lower --dpi"),
    ("png-named-pdf", {"liar.pdf": PNG}, {"task": "transcribe"},
     r"liar\.pdf: the name says PDF but the content is a PNG file"),
    ("pdf-named-png", {"liar.png": text_pdf(["x"])}, {"task": "transcribe"},
     r"liar\.png: the name says PNG but the content is a PDF file"),
    ("text-named-jpg", {"notes.jpg": b"just some text\n"}, {"task": "transcribe"},
     r"notes\.jpg: the name says JPEG but the content is not a PDF or image file"),
    ("truncated-png", {"cut.png": encoded(page_image("x", size=(400, 400)), "PNG", compress_level=0)[:5000],
                       "manifest.csv": "file,target\ncut.png,x\n"}, {},
     r"cut\.png: page 1: unreadable PNG image data"),
    ("manifest-missing-file", {"a.png": PNG, "manifest.csv": "file,target\na.png,x\nnot-there.png,y\n"}, {},
     r"manifest\.csv line 3: file 'not-there\.png' does not exist"),
    ("manifest-escapes-folder", {"a.png": PNG, "manifest.csv": "file,target\n../a.png,x\n"}, {},
     r"manifest\.csv line 2: file '\.\./a\.png' must be a path inside"),
    ("manifest-duplicate-ids", {"a.png": PNG, "b.png": PNG, "manifest.csv": "id,file,target\nq1,a.png,x\nq1,b.png,y\n"}, {},
     r"manifest\.csv line 3: duplicate id 'q1' \(first at .*manifest\.csv line 2\)"),
    ("manifest-pages-past-end", {"d.pdf": text_pdf(["1", "2", "3"]), "manifest.csv": "file,target,pages\nd.pdf,x,2-5\n"}, {},
     r"manifest\.csv line 2: d\.pdf: pages '2-5' go past the end of the file \(3 page\(s\)\)"),
    ("manifest-without-file-column", {"a.png": PNG, "manifest.csv": "path,target\na.png,x\n"}, {},
     r"manifest\.csv: no `file` column"),
    ("manifest-row-without-target", {"a.png": PNG, "manifest.csv": "file,target\na.png,\n"}, {"task": "qa", "prompt": "Q?"},
     r"manifest\.csv line 2: no target .*--task qa needs one per row"),
    ("qa-row-without-question", {"a.png": PNG, "manifest.csv": "file,target\na.png,yes\n"}, {"task": "qa"},
     r"manifest\.csv line 2: no prompt; --task qa needs a question per example"),
    ("extract-target-not-json", {"a.png": PNG, "manifest.csv": 'file,target\na.png,"{""name"": ""Ada""}"\na.png,name: Ada\n'},
     {"task": "extract"}, r"manifest\.csv line 3: the target is not valid JSON \(--task extract\)"),
    ("no-manifest-for-qa", {"a.pdf": text_pdf(["x"])}, {"task": "qa"},
     r"--task qa needs a target for each example: add a manifest"),
    ("scan-without-text-layer", {"scan.png": PNG}, {"task": "transcribe"},
     r"no usable examples: all 1 have no target and no text layer"),
]

LLAVA_CASES = [
    ("llava-no-image-token", [{"image": "p.png", "conversations": [{"from": "human", "value": "What is it?"},
                                                                    {"from": "gpt", "value": "A page"}]}],
     r"llava\.json item 0: no <image> token in any user turn"),
    ("llava-more-images-than-tokens", [{"images": ["p.png", "p.png"], "conversations": [
        {"from": "human", "value": "<image> What?"}, {"from": "gpt", "value": "A page"}]}],
     r"llava\.json item 0: 2 image\(s\) but 1 <image> token\(s\) \(more images than image tokens\)"),
    ("llava-missing-image", [{"image": "gone.png", "messages": [{"role": "user", "content": "<image>What?"},
                                                                 {"role": "assistant", "content": "x"}]}],
     r"llava\.json item 0: image 'gone\.png' does not exist"),
    ("llava-no-answer", [{"image": "p.png", "conversations": [{"from": "human", "value": "<image>What?"}]}],
     r"llava\.json item 0: turn 1: the conversation ends with no answer"),
    ("llava-no-image", [{"conversations": [{"from": "human", "value": "<image>What?"}, {"from": "gpt", "value": "x"}]}],
     r"llava\.json item 0: no image"),
]


def _assert_nothing_left(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.parametrize("files, overrides, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_page_input_is_a_clear_error_and_writes_nothing(tmp_path, make_config, files, overrides, message):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content.encode() if isinstance(content, str) else content)
    single = [name for name in files if not name.startswith("manifest")]
    source = folder if any(n.startswith("manifest") for n in files) or len(single) != 1 else folder / single[0]
    with pytest.raises(InputError, match=message):
        build_dataset(make_config(source, **overrides), tmp_path / "out")
    _assert_nothing_left(tmp_path)


@pytest.mark.parametrize("items, message", [c[1:] for c in LLAVA_CASES], ids=[c[0] for c in LLAVA_CASES])
def test_bad_llava_json_is_a_clear_error(tmp_path, make_config, items, message):
    (tmp_path / "p.png").write_bytes(PNG)
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        build_dataset(make_config(path, task="qa"), tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_extract_target_in_a_text_table_must_be_json(tmp_path, make_config, write_file):
    path = write_file("e.csv", 'text,target\nAda was born in 1815.,"{""born"": 1815}"\nBob,born 1900\n')
    with pytest.raises(InputError, match=r"e\.csv line 3: the target is not valid JSON \(--task extract\)"):
        build_dataset(make_config(path, task="extract"), tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_cli_reports_a_bad_pdf_without_a_traceback(tmp_path):
    (tmp_path / "secret.pdf").write_bytes(encrypted_pdf())
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "deepsynth", "dataset", "--source", str(tmp_path / "secret.pdf"),
                             "--task", "transcribe", "--out", str(tmp_path / "out"), "--no-progress"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "secret.pdf: the PDF is encrypted" in result.stderr and "Traceback" not in result.stderr
    _assert_nothing_left(tmp_path)


def _image_table(tmp_path, images, **columns) -> Path:
    import datasets

    data = datasets.Dataset.from_dict({"image": images, **columns},
                                      features=datasets.Features({"image": datasets.Image(),
                                                                  **{k: datasets.Value("string") for k in columns}}))
    data = data.cast_column("image", datasets.Image(decode=False))
    folder = tmp_path / "table"
    data.save_to_disk(str(folder))
    return folder


def test_image_table_cells_that_name_files_instead_of_holding_bytes(tmp_path, make_config):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "refs.parquet"
    pq.write_table(pa.table({"image": [{"bytes": None, "path": "/somewhere/page.png"}], "answer": ["x"]}), path)
    with pytest.raises(InputError, match=r"refs\.parquet row 0: column 'image' names a file \('/somewhere/page\.png'\) "
                                         r"instead of holding the image bytes"):
        build_dataset(make_config(path, task="transcribe"), tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_image_table_without_a_target_column(tmp_path, make_config, hf_cache):
    folder = _image_table(tmp_path, [{"bytes": PNG, "path": None}], note=["x"])
    with pytest.raises(InputError, match=r"cannot tell which column holds the target; name it with --summary-column; "
                                         r"columns: image, note"):
        build_dataset(make_config(f"hf:{folder}", task="transcribe"), tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_image_table_cell_that_is_not_an_image(tmp_path, make_config, hf_cache):
    folder = _image_table(tmp_path, [{"bytes": b"plain text, not a picture", "path": None}], answer=["x"])
    with pytest.raises(InputError, match=r"table row 0 \(image\): not a PDF or image DeepSynth reads"):
        build_dataset(make_config(f"hf:{folder}", task="transcribe"), tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_a_tiff_frame_over_the_pixel_limit_is_refused(tmp_path, make_config):
    frames = [page_image("small", size=(100, 100)), page_image("large", size=(1000, 1000))]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "scan.tiff").write_bytes(encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]))
    (folder / "manifest.csv").write_text("file,target\nscan.tiff,x\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"scan\.tiff: page 2 is 1000 x 1000 = 1 million pixels, over the 0\.5 million "
                                         r"limit \(max_page_pixels\)"):
        build_dataset(make_config(folder, max_page_pixels=500_000), tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_a_bad_file_named_by_a_manifest_row_names_the_row_too(tmp_path, make_config):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.png").write_bytes(PNG)
    (folder / "secret.pdf").write_bytes(encrypted_pdf())
    (folder / "manifest.csv").write_text("file,target\nok.png,a\nsecret.pdf,b\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"manifest\.csv line 3: secret\.pdf: the PDF is encrypted"):
        build_dataset(make_config(folder), tmp_path / "out")
    _assert_nothing_left(tmp_path)
