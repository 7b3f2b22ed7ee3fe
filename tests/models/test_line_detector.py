"""The CRAFT line detector: strict weights, lines found and ordered, columns, blank pages, the
render mark deciding layout vs detector, the readings cache, and unreadable pages counted."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from deepsynth.models.builtin.line_detection import DetectedLine, LineDetector, reading_order
from deepsynth.render import RenderConfig, encode_png, render_document

CANVAS = 480
"""Test pages are at most 480 pixels wide: the detector sees them at their own size (fast)."""
MAX_CER = 0.03
"""Measured on these pages through the detector (canvas 480, english_g2 float32): 0.75% on the
one-column page (one character: the last full stop read as ':'), 0% on the two columns; the
bound leaves room for other CPUs' float rounding, never for a line lost or out of order (a lost
line of these pages is 20-30% of the text)."""
TEXT = ("The quick brown fox jumps over the lazy dog while seven wizards quietly judge "
        "boxing matches. Pack my box with five dozen liquor jugs.")
LEFT = "Alpha column text begins here and continues for a few more words."
RIGHT = "Beta column holds other words, read after the first column."


def edit_distance(reference: str, hypothesis: str) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref_char in enumerate(reference, 1):
        current = [i]
        for j, hyp_char in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_char != hyp_char)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    reference, hypothesis = " ".join(reference.split()), " ".join(hypothesis.split())
    return edit_distance(reference, hypothesis) / len(reference)


def unmarked(page: Image.Image) -> Image.Image:
    """The same pixels without the render mark: a page DeepSynth did not draw, as far as it knows."""
    return Image.frombytes("L", page.size, page.tobytes())


def render(text: str, width: int = CANVAS, height: int = 200, margin: int = 24) -> Image.Image:
    return render_document(text, RenderConfig(page_width=width, page_height=height, margin=margin,
                                              max_pages=1)).pages[0]


class CountingDetector:
    """A `LineDetector` stand-in that counts the pages it is asked about."""

    def __init__(self, detector: LineDetector) -> None:
        self.detector = detector
        self.pages = 0

    def identity(self):
        return self.detector.identity()

    def line_images(self, gray):
        self.pages += 1
        return self.detector.line_images(gray)


@pytest.fixture(scope="module")
def detector() -> LineDetector:
    from deepsynth.models.builtin.line_detection import load_line_detector

    return load_line_detector(canvas=CANVAS, lazy=False)


@pytest.fixture(scope="module")
def english_g2():
    from deepsynth.models.builtin.crnn import load_english_g2

    return load_english_g2()


@pytest.fixture
def reader(english_g2, detector):
    from deepsynth.models.builtin.page_reader import CrnnPageReader

    return CrnnPageReader(english_g2, "easyocr-english_g2", "test", line_detector=CountingDetector(detector))


def test_craft_loads_the_real_state_dict_strictly_with_weights_only():
    from deepsynth.models.builtin.craft import Craft, craft_weights_path

    state = torch.load(craft_weights_path(), map_location="cpu", weights_only=True)
    assert all(key.startswith("module.") for key in state)
    model = Craft()
    result = model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(model.state_dict()) == {k.removeprefix("module.") for k in state}
    with torch.inference_mode():
        scores = model.eval()(torch.zeros(1, 3, 64, 96))
    assert scores.shape == (1, 2, 32, 48)  # region + affinity at half resolution


def test_detector_finds_the_lines_in_order_and_they_read_as_the_text(detector, reader):
    from deepsynth.models.builtin.lines import find_lines

    page = render(TEXT)
    layout = find_lines(np.asarray(page))
    lines = detector.detect(unmarked(page))
    assert len(lines) == len(layout) >= 3
    centres = [line.intercept + line.slope * (line.left + line.right) / 2 for line in lines]
    assert centres == sorted(centres)
    for line, box in zip(lines, layout):  # each detected line sits on the layout's line
        assert box.top <= centres[lines.index(line)] <= box.bottom
    reading = reader.read_pages([unmarked(page)])
    assert reader.line_detector.pages == 1
    assert cer(TEXT, reading.text) < MAX_CER, reading.text
    assert reading.unreadable_pages == 0 and reading.pages_without_lines == 0


def test_a_two_column_page_is_read_column_by_column(detector, reader):
    page = Image.new("L", (CANVAS, 200), 255)
    page.paste(render(LEFT, width=220, margin=8), (8, 0))
    page.paste(render(RIGHT, width=220, margin=8), (252, 0))
    lines = detector.detect(page)
    middle = CANVAS / 2
    sides = ["left" if line.right < middle else "right" for line in lines]
    assert sides == sorted(sides) and "left" in sides and "right" in sides  # all left lines first
    reading = reader.read_pages([page])
    assert cer(f"{LEFT} {RIGHT}", reading.text) < MAX_CER, reading.text


def test_a_blank_page_has_no_lines_and_is_counted(detector, reader):
    from deepsynth.models.builtin.page_reader import PageReading
    from deepsynth.models.reading import unread_pages_report

    blank = Image.new("L", (CANVAS, 200), 255)
    assert detector.detect(blank) == []
    reading = reader.read_pages([blank])
    assert reading.text == "" and reading.pages_without_lines == 1
    report = unread_pages_report([reading, PageReading(text="a page with lines")])
    assert report["pages_without_lines"] == 1 and report["documents_without_lines"] == 1
    assert report["documents"] == 2


def test_untouched_rendered_pages_keep_the_layout_lines(english_g2, reader):
    from deepsynth.models.builtin.page_reader import CrnnPageReader

    page = render(TEXT)
    from_png = Image.open(io.BytesIO(encode_png(page)))  # as a dataset stores and loads it
    layout_only = CrnnPageReader(english_g2, "easyocr-english_g2", "test")
    expected = layout_only.read_pages([page]).text
    assert reader.read_pages([page]).text == expected
    assert reader.read_pages([from_png]).text == expected
    assert reader.line_detector.pages == 0  # the detector never ran


def test_a_render_changed_after_rendering_goes_through_the_detector(reader):
    from deepsynth.render.mark import RENDER_MARK, is_untouched_render

    page = render(TEXT)
    ImageDraw.Draw(page).point((2, 2), fill=0)  # one pixel changed in place; the mark stays in info
    assert RENDER_MARK in page.info and not is_untouched_render(page)
    reader.read_pages([page])
    assert reader.line_detector.pages == 1
    stored = Image.open(io.BytesIO(encode_png(page)))  # a stale mark is not written
    assert RENDER_MARK not in stored.info and not is_untouched_render(stored)


def test_readings_are_cached_with_the_detector_in_the_key(tmp_path, english_g2, detector):
    import datasets

    from deepsynth.models.builtin.page_reader import CrnnPageReader
    from deepsynth.models.reading import dataset_key, read_dataset

    png = encode_png(unmarked(render(TEXT)))
    blank = encode_png(Image.new("L", (CANVAS, 120), 255))
    split = datasets.Dataset.from_dict({"id": ["a", "b"], "image": [{"bytes": png, "path": None},
                                                                  {"bytes": blank, "path": None}]},
                                       features=datasets.Features({"id": datasets.Value("string"),
                                                                   "image": datasets.Image()}))
    counting = CountingDetector(detector)
    reader = CrnnPageReader(english_g2, "easyocr-english_g2", "test", line_detector=counting)
    first = read_dataset(reader, split, cache_dir=tmp_path, progress=False)
    assert counting.pages == 2
    second = read_dataset(reader, split, cache_dir=tmp_path, progress=False)
    assert counting.pages == 2  # a cache hit: no page detected again
    assert [r.text for r in second] == [r.text for r in first]
    assert [r.pages_without_lines for r in second] == [0, 1]
    other_canvas = CrnnPageReader(english_g2, "easyocr-english_g2", "test",
                                  line_detector=LineDetector(detector.craft, detector.weights_id, canvas=736))
    assert dataset_key(split, other_canvas) != dataset_key(split, reader)
    assert dataset_key(split, layout_only := CrnnPageReader(english_g2, "easyocr-english_g2", "test")) \
        != dataset_key(split, reader)
    assert reader.identity() == layout_only.identity()  # adapter cards: trained before the detector, still fit
    assert detector.identity()["weights"].startswith("craft_mlt_25k:") and detector.identity()["canvas"] == CANVAS


def test_a_script_the_reader_does_not_know_is_reported_unreadable(reader):
    from deepsynth.models.reading import unread_pages_report

    russian = render("Россия — государство в Восточной Европе и Северной Азии. Столица — Москва.")
    reading = reader.read_pages([russian])
    assert reading.text  # english_g2 emits look-alike Latin letters ...
    assert reading.unreadable and reading.unreadable_pages == 1  # ... with low confidence
    english = reader.read_pages([render(TEXT)])
    assert not english.unreadable
    assert unread_pages_report([reading, english])["documents_unreadable"] == 1


def _line(left: float, top: float, right: float, height: float = 20.0) -> DetectedLine:
    return DetectedLine(left=left, top=top, right=right, bottom=top + height, slope=0.0,
                        intercept=top + height / 2, above=height / 2, below=height / 2, words=3)


def test_reading_order_is_title_then_columns_left_to_right_then_footer():
    title = _line(10, 0, 590)
    left = [_line(10, 40 + 30 * i, 280) for i in range(4)]
    right = [_line(320, 42 + 30 * i, 590) for i in range(4)]  # rows not aligned with the left
    footer = _line(10, 200, 590)
    shuffled = [right[2], footer, left[1], title, right[0], left[3], left[0], right[3], left[2], right[1]]
    assert reading_order(shuffled) == [title, *left, *right, footer]


def test_a_built_dataset_is_read_by_its_layout_without_loading_the_detector(tmp_path, english_g2, monkeypatch):
    """The default reader on a dataset DeepSynth built (PNG pages saved and loaded by `datasets`):
    the same texts as the layout-only reader, and the detector never even loads (the demo's
    readings, and so its scores, stay as they were)."""
    import datasets

    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.data.storage import load_dataset_dir
    from deepsynth.models.build import build_reader
    from deepsynth.models.builtin.page_reader import CrnnPageReader
    from deepsynth.models.config import ModelConfig
    from deepsynth.models.reading import read_dataset

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(f'{{"id": "d{i}", "text": "Document {i} is about rivers and hills.", '
                              f'"summary": "Rivers {i}."}}\n' for i in range(6)))
    small = RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=1)
    folder = build_dataset(DatasetConfig(source=str(source), render=small, workers=1), tmp_path / "ds")
    split = load_dataset_dir(folder).dataset["train"]
    reader = build_reader(ModelConfig(name="default", reader_precision="float32"))
    assert reader.line_detector is not None and not reader.line_detector.loaded
    readings = read_dataset(reader, split, cache_dir=tmp_path / "readings", progress=False)
    assert not reader.line_detector.loaded
    layout_only = CrnnPageReader(english_g2, "easyocr-english_g2", "test")
    expected = layout_only.read_documents(split["pages"])
    assert [r.text for r in readings] == [r.text for r in expected]
    assert all(r.text.startswith("Document") for r in readings)
