"""Words and their boxes on a page, read by DeepSynth's own OCR, for processors that want them.

Some document models read the page's words beside its pixels: their processor takes `text` (the
words) and `boxes` (one per word, normalized to 0-1000 of the page's width and height), and their
image processor would run an OCR engine of its own to get them (`apply_ocr`: LayoutLMv3's and
UDOP's run Tesseract through pytesseract, which needs a system binary). DeepSynth supplies them
from its own reader instead: the page's text lines (CRAFT detector + EasyOCR english_g2, or the
layout of a page DeepSynth rendered untouched: `CrnnPageReader.read_lines`), each line's text split
on spaces, each word's box its line's box cut in proportion to the word's characters. The reader's
identity (`PageWordReader.identity`) joins the reading's cache key, so readings are reused only
for the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

BOX_SCALE = 1000
"""Processors that take word boxes want them normalized to 0..BOX_SCALE (LayoutLM's convention)."""
OCR_SWITCH = "apply_ocr"
"""The image processor attribute that says it runs an OCR engine of its own on every page."""
WORDS_VERSION = 1


@dataclass(frozen=True)
class PageWords:
    """A page's words in reading order and their boxes (left, top, right, bottom) in 0..BOX_SCALE."""

    words: tuple[str, ...]
    boxes: tuple[tuple[int, int, int, int], ...]


def split_line(text: str, box: Sequence[float]) -> list[tuple[str, tuple[float, float, float, float]]]:
    """The line's words, each with the part of the line's box its characters take: the box's width
    shared in proportion to character positions (the space before a word counts to the gap)."""
    left, top, right, bottom = (float(v) for v in box)
    words, position = [], 0
    length = max(len(text), 1)
    for word in text.split():
        start = text.index(word, position)
        end = start + len(word)
        position = end
        words.append((word, (left + (right - left) * start / length, top,
                             left + (right - left) * end / length, bottom)))
    return words


def _scaled(value: float, size: int) -> int:
    return int(min(max(round(value * BOX_SCALE / max(size, 1)), 0), BOX_SCALE))


def page_words(lines: Sequence[Any], width: int, height: int) -> PageWords:
    """`lines` (each with `.text` and `.box` in page pixels) -> the page's words, boxes normalized
    to the page's `width` x `height`."""
    words, boxes = [], []
    for line in lines:
        for word, (x0, y0, x1, y1) in split_line(line.text, line.box):
            words.append(word)
            boxes.append((_scaled(x0, width), _scaled(y0, height), _scaled(x1, width), _scaled(y1, height)))
    return PageWords(tuple(words), tuple(boxes))


class PageWordReader:
    """Page -> `PageWords` through a line reader (`CrnnPageReader.read_lines`)."""

    def __init__(self, line_reader: Any) -> None:
        self.line_reader = line_reader

    def identity(self) -> dict[str, Any]:
        """Everything the words depend on besides the pixels (part of a reading's cache key)."""
        detector = getattr(self.line_reader, "line_detector", None)
        return {"words": "lines split, boxes by characters", "box_scale": BOX_SCALE, "version": WORDS_VERSION,
                "line_reader": self.line_reader.identity(),
                "line_detector": detector.identity() if detector is not None else None}

    def read(self, page: Any) -> PageWords:
        return page_words(self.line_reader.read_lines(page), *page.size)


def runs_own_ocr(processor: Any) -> bool:
    """Whether the processor's image processor has an OCR switch (`OCR_SWITCH`): then DeepSynth
    gives it the words and boxes and turns its own OCR off."""
    image_processor = getattr(processor, "image_processor", None)
    return image_processor is not None and hasattr(image_processor, OCR_SWITCH)


def default_word_reader(config: Any) -> PageWordReader:
    """DeepSynth's page reader (EasyOCR english_g2 + the CRAFT detector, `models.build.build_reader`),
    reading text only, as a word reader."""
    from dataclasses import replace

    from deepsynth.models.build import build_reader

    return PageWordReader(build_reader(replace(config, vision_interface="ocr_text")))
