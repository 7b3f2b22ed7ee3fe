"""`deepsynth infer --file PAGE.pdf|png|jpg|tif|webp --prompt "..."`: a page file read as the
adapter's dataset read its pages (DPI, page cap), the prompt given to the model as text (the
adapter's task default when none is typed), and bad files refused naming the file, no traceback.
PDFs and images are built here."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from deepsynth.data.tasks import DEFAULT_PROMPTS
from deepsynth.inference import BASE, Summarizer
from deepsynth.inference.page_input import CARD_KEY, adapter_task, card_entry

TOKENS = 6


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))


def pages(count: int) -> list[Image.Image]:
    from deepsynth.render import RenderConfig, render_document

    text = " ".join(f"Page text number {n}: the river flooded the valley." for n in range(40))
    rendered = render_document(text, RenderConfig(page_height=400)).pages
    return [rendered[i % len(rendered)].convert("L") for i in range(count)]


@pytest.fixture(scope="module")
def three_page_pdf(tmp_path_factory):
    path = tmp_path_factory.mktemp("pdf") / "paper.pdf"
    first, *rest = pages(3)
    first.save(path, "PDF", save_all=True, append_images=rest, resolution=144)  # page = pixels / 2 in points
    return path


def with_dataset(folder, tmp_path, name, **entry):
    """A copy of the adapter `folder` whose card records its dataset's task and page settings."""
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    card = json.loads((copy / "deepsynth_model.json").read_text())
    card[CARD_KEY] = entry
    (copy / "deepsynth_model.json").write_text(json.dumps(card))
    return copy


def spy_prompts(summarizer, monkeypatch) -> list[str]:
    seen: list[str] = []
    collate = summarizer.model.collate

    def recording(readings, instructions=None, summaries=None):
        seen.extend(instructions or [])
        return collate(readings, instructions, summaries)

    monkeypatch.setattr(summarizer.model, "collate", recording)
    return seen


def test_the_card_entry_is_the_datasets_task_prompt_and_page_settings():
    from deepsynth.data.config import DatasetConfig

    entry = card_entry(DatasetConfig(task="transcribe", dpi=100, max_document_pages=3))
    assert entry == {"task": "transcribe", "prompt": DEFAULT_PROMPTS["transcribe"], "dpi": 100,
                     "max_document_pages": 3, "max_page_pixels": DatasetConfig().max_page_pixels, "page_color": False}
    task = adapter_task({CARD_KEY: entry})
    assert (task.task, task.prompt, task.pages.dpi, task.pages.max_document_pages) == (
        "transcribe", DEFAULT_PROMPTS["transcribe"], 100, 3)
    assert adapter_task({}).task == "summarize" and adapter_task({}).prompt == ""  # cards from before tasks
    hostile = adapter_task({CARD_KEY: {"task": "rm -rf", "dpi": -5, "max_document_pages": "9"}})
    assert hostile.task == "summarize" and hostile.pages.dpi == 144 and hostile.pages.max_document_pages == 16


def test_a_pdf_is_read_at_the_datasets_dpi_up_to_its_page_cap_with_the_prompt(two_adapters, three_page_pdf,
                                                                            tmp_path, monkeypatch):
    adapter = with_dataset(two_adapters[0], tmp_path, "qa", task="qa", prompt="", dpi=72, max_document_pages=2)
    summarizer = Summarizer.for_adapter(adapter, label="qa", max_new_tokens=TOKENS)
    read = summarizer.pages_for(file=three_page_pdf, adapter="qa")
    source = pages(1)[0]
    assert len(read) == 2  # the cap of the adapter's dataset
    assert read[0].size == (source.width // 2, source.height // 2)  # 144-DPI PDF pages rasterized at 72 DPI
    seen = spy_prompts(summarizer, monkeypatch)
    answer = summarizer.summarize(file=three_page_pdf, adapter="qa", instruction="Which river flooded?")
    assert seen == ["Which river flooded?"] and isinstance(answer, str)


def test_the_default_prompt_is_the_adapters_task_default(two_adapters, page, tmp_path, monkeypatch):
    adapter = with_dataset(two_adapters[0], tmp_path, "transcriber", task="transcribe")
    summarizer = Summarizer.for_adapter(adapter, label="t", max_new_tokens=TOKENS)
    seen = spy_prompts(summarizer, monkeypatch)
    summarizer.compare(file=page, include_base=True)
    assert seen == [DEFAULT_PROMPTS["transcribe"]] * 2  # the base is asked what the adapter is asked


@pytest.mark.parametrize("suffix, kind", [(".png", "PNG"), (".jpg", "JPEG"), (".tiff", "TIFF"), (".webp", "WEBP")])
def test_each_image_kind_is_a_page(two_adapters, tmp_path, suffix, kind):
    path = tmp_path / f"scan{suffix}"
    pages(1)[0].save(path, kind)
    summarizer = Summarizer.for_adapter(two_adapters[0], label="one", max_new_tokens=TOKENS)
    (read,) = summarizer.pages_for(file=path, adapter="one")
    assert read.size == pages(1)[0].size and read.mode == "L"
    assert summarizer.summarize(file=path, adapter="one") == summarizer.summarize(image=path, adapter="one")


def test_the_infer_command_answers_on_a_pdf(two_adapters, three_page_pdf, tmp_path, capsys):
    from deepsynth.cli import main

    adapter = with_dataset(two_adapters[0], tmp_path, "qa", task="qa", dpi=72, max_document_pages=2)
    assert main(["infer", "--adapter", str(adapter), "--file", str(three_page_pdf), "--prompt", "Which river?",
                 "--base", "--json", "--max-new-tokens", str(TOKENS)]) == 0
    printed = capsys.readouterr()
    expected = Summarizer.for_adapter(adapter, max_new_tokens=TOKENS).compare(
        file=three_page_pdf, instruction="Which river?")
    assert json.loads(printed.out) == {"summaries": {BASE: expected[BASE], str(adapter): expected[str(adapter)]}}
    assert f"{three_page_pdf}: 3 pages; the first 2 are read" in printed.err


def _corrupt_pdf(path):
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n%%EOF\n")


def _png_named_pdf(path):
    pages(1)[0].save(path, "PNG")


def _truncated_pdf(path):
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")


@pytest.mark.parametrize("name, make, message", [
    ("missing.pdf", None, "missing.pdf: no such file"),
    ("notes.txt", lambda p: p.write_text("hello"), "notes.txt: not a page file; use one of"),
    ("corrupt.pdf", _corrupt_pdf, "corrupt.pdf: not a readable PDF (corrupt)"),
    ("truncated.pdf", _truncated_pdf, "truncated.pdf: the PDF is truncated"),
    ("lies.pdf", _png_named_pdf, "lies.pdf: the name says PDF but the content is a PNG file"),
])
def test_bad_page_files_exit_2_naming_the_file(two_adapters, tmp_path, capsys, name, make, message):
    from deepsynth.cli import main

    path = tmp_path / name
    if make is not None:
        make(path)
    assert main(["infer", "--adapter", str(two_adapters[0]), "--file", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(tmp_path) in err and "Traceback" not in err, err


def test_a_card_whose_dataset_entry_is_not_an_object_is_refused(two_adapters, tmp_path):
    from deepsynth.errors import InputError

    adapter = with_dataset(two_adapters[0], tmp_path, "odd", task="qa")
    card = json.loads((adapter / "deepsynth_model.json").read_text())
    card[CARD_KEY] = "qa at 9000 dpi"
    (adapter / "deepsynth_model.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match=r"dataset: not an object"):
        Summarizer.for_adapter(adapter)
