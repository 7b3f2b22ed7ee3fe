"""Text lines of any page (a scan, a photo, a PDF page, a degraded render) with the CRAFT detector.

Steps, each a function below:
1. `score_maps`: the page is resized so its longer side is `canvas` pixels (never enlarged, as
   EasyOCR's `resize_aspect_ratio`), padded to a multiple of 32, and CRAFT predicts region and
   affinity scores at half that resolution.
2. `find_words`: EasyOCR's `getDetBoxes_core` thresholds (region > low_text or affinity >
   link_threshold; a word needs one region score >= text_threshold and 10 pixels), 4-connected
   components, each box grown by EasyOCR's dilation width; boxes go back to page pixels.
3. `group_lines`: words chained left to right into lines (next word's centre within half a height
   of the line's last word, gap under one height); each line gets a straight centre line fitted
   through its words, so a page turned a few degrees is cut along its lines, not across them.
4. `reading_order`: columns left to right, lines top to bottom (a recursive XY cut: a vertical gap
   no line crosses splits columns; lines that span it, a title, start a new section).

`LineDetector.detect(page)` returns `DetectedLine`s in reading order; `crop_line` cuts one out as
an upright grayscale strip for the line reader.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

from deepsynth.models.builtin.detection_cost import DEFAULT_CANVAS

TEXT_THRESHOLD = 0.7
"""A word needs a region score at least this high somewhere (EasyOCR's `text_threshold`)."""
LINK_THRESHOLD = 0.4
"""Affinity above this joins characters into one word (EasyOCR's `link_threshold`)."""
LOW_TEXT = 0.4
"""Region score above this is part of a character (EasyOCR's `low_text`)."""
MIN_WORD_PIXELS = 10
"""Components smaller than this on the score map are noise (EasyOCR's `getDetBoxes_core`)."""
LINE_MARGIN = 0.2
"""Crop margin above and below a detected line, as a share of its height (the height of its
characters' region scores, close to the ink). On a wiki page at canvas 1024, clean / degraded:
0.2 read 0.84% / 1.12% CER, 0.3 1.4-2.1% (the neighbouring lines' descenders come in)."""
SIDE_MARGIN = 0.2
"""Crop margin left and right of a detected line, as a share of its height (0.4 and 0.6 read
worse on the same pages: 1.4-2.2% CER)."""


@dataclass(frozen=True)
class Word:
    """A word box in page pixels (left, top, right, bottom), right/bottom exclusive, grown as
    EasyOCR grows it (used to chain words into lines), and the vertical extent of its characters'
    region scores before growing (`core_top`, `core_bottom`: close to the ink; used to crop: the
    grown box reaches into the neighbouring lines)."""

    left: float
    top: float
    right: float
    bottom: float
    core_top: float
    core_bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center_y(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def center_x(self) -> float:
        return (self.left + self.right) / 2


@dataclass(frozen=True)
class DetectedLine:
    """A text line: its words' bounds and a straight centre line `y = intercept + slope * x`."""

    left: float
    top: float
    right: float
    bottom: float
    slope: float
    intercept: float
    above: float
    """Distance from the centre line up to the line's top edge (the words' ink, slope removed)."""
    below: float
    """Distance from the centre line down to the line's bottom edge."""
    words: int

    @property
    def height(self) -> float:
        return self.above + self.below

    def quad(self, margin: float, side_margin: float) -> tuple[float, ...]:
        """The line's corners with `margin` x height above and below and `side_margin` x height
        left and right, in PIL's QUAD order (upper left, lower left, lower right, upper right)."""
        pad, side = margin * self.height, side_margin * self.height
        x0, x1 = self.left - side, self.right + side
        y0, y1 = self.intercept + self.slope * x0, self.intercept + self.slope * x1
        top, bottom = self.above + pad, self.below + pad
        return (x0, y0 - top, x0, y0 + bottom, x1, y1 + bottom, x1, y1 - top)


def canvas_shape(width: int, height: int, canvas: int) -> tuple[float, int, int]:
    """(scale, resized width, resized height) of a page fitted into `canvas` on its longer side."""
    scale = min(1.0, canvas / max(width, height))
    return scale, max(1, round(width * scale)), max(1, round(height * scale))


def score_maps(craft: torch.nn.Module, gray: Image.Image, canvas: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(region (h, w), affinity (h, w), page pixels per score-map pixel) of a grayscale page."""
    from deepsynth.models.builtin.craft import normalize

    scale, width, height = canvas_shape(gray.width, gray.height, canvas)
    resized = gray if (width, height) == gray.size else gray.resize((width, height), Image.Resampling.BILINEAR)
    padded = np.zeros((-(-height // 32) * 32, -(-width // 32) * 32), dtype=np.uint8)  # EasyOCR pads with 0
    padded[:height, :width] = np.asarray(resized)
    with torch.inference_mode():
        scores = craft(normalize(padded))[0].float().numpy()  # (2, H/2, W/2)
    rows, columns = (height + 1) // 2, (width + 1) // 2
    return scores[0, :rows, :columns], scores[1, :rows, :columns], 2.0 / scale


def find_words(region: np.ndarray, affinity: np.ndarray, to_page: float,
               text_threshold: float = TEXT_THRESHOLD, link_threshold: float = LINK_THRESHOLD,
               low_text: float = LOW_TEXT) -> list[Word]:
    """Word boxes from CRAFT's score maps, in page pixels (`to_page` page pixels per map pixel)."""
    from scipy import ndimage

    text = region > low_text
    link = affinity > link_threshold
    labels, count = ndimage.label(text | link)  # 4-connected, as cv2's connectivity=4
    if count == 0:
        return []
    index = np.arange(1, count + 1)
    sizes = ndimage.sum_labels(np.ones_like(region), labels, index)
    peaks = ndimage.maximum(region, labels, index)
    # The box is the characters' extent: pixels that are link only (between words' characters
    # at a word's ends) do not count, as EasyOCR's `segmap[link & ~text] = 0`.
    character_labels = np.where(text, labels, 0)
    words = []
    for number, slices in enumerate(ndimage.find_objects(character_labels, max_label=count), start=1):
        if slices is None or sizes[number - 1] < MIN_WORD_PIXELS or peaks[number - 1] < text_threshold:
            continue
        top, bottom = slices[0].start, slices[0].stop
        left, right = slices[1].start, slices[1].stop
        w, h = right - left, bottom - top
        # EasyOCR's dilation: a (1 + n) square kernel, n = 2 sqrt(size min(w, h) / (w h)).
        grow = int(math.sqrt(sizes[number - 1] * min(w, h) / (w * h)) * 2)
        before, after = (1 + grow) // 2, grow - (1 + grow) // 2
        words.append(Word(left=(left - before) * to_page, top=(top - before) * to_page,
                          right=(right + after) * to_page, bottom=(bottom + after) * to_page,
                          core_top=top * to_page, core_bottom=bottom * to_page))
    return words


def group_lines(words: Sequence[Word], max_gap: float = 1.0, max_shift: float = 0.5) -> list[DetectedLine]:
    """Chain words left to right into lines: a word joins the line whose last word ends at most
    `max_gap` heights before it and whose centre is within `max_shift` heights of its own."""
    chains: list[list[Word]] = []
    for word in sorted(words, key=lambda w: w.left):
        best, best_shift = None, None
        for chain in chains:
            last = chain[-1]
            height = max(last.height, word.height)
            gap = word.left - last.right
            shift = abs(word.center_y - last.center_y)
            if -0.5 * height <= gap <= max_gap * height and shift <= max_shift * height:
                if best_shift is None or shift < best_shift:
                    best, best_shift = chain, shift
        if best is None:
            chains.append([word])
        else:
            best.append(word)
    # A page is turned as a whole: one slope for all its lines, the median of the lines with
    # enough words to fit one (a word's centre moves with its ascenders and descenders, so a
    # short line's own fit is noise).
    slopes = [_slope(chain) for chain in chains if len(chain) >= 3]
    slope = float(np.median(slopes)) if slopes else 0.0
    return [_fit_line(chain, slope) for chain in chains]


def _slope(words: list[Word]) -> float:
    centers_x = np.array([w.center_x for w in words])
    centers_y = np.array([w.center_y for w in words])
    if np.ptp(centers_x) == 0:
        return 0.0
    widths = np.array([w.right - w.left for w in words])
    slope = float(np.polyfit(centers_x, centers_y, 1, w=np.sqrt(widths))[0])
    return max(-0.2, min(0.2, slope))  # ~11 degrees: beyond that a page needs turning first


def _fit_line(words: list[Word], slope: float) -> DetectedLine:
    centers_x = np.array([w.center_x for w in words])
    centers_y = np.array([w.center_y for w in words])
    widths = np.array([w.right - w.left for w in words])
    intercept = float(np.average(centers_y - slope * centers_x, weights=widths))
    # A box around a slanted word is taller than the word by |slope| x width; take that back out.
    lean = np.abs(slope) * widths / 2
    middle = intercept + slope * centers_x
    above = float(np.max(middle - (np.array([w.core_top for w in words]) + lean)))
    below = float(np.max(np.array([w.core_bottom for w in words]) - lean - middle))
    return DetectedLine(left=min(w.left for w in words), top=min(w.top for w in words),
                        right=max(w.right for w in words), bottom=max(w.bottom for w in words),
                        slope=slope, intercept=intercept, above=max(above, 1.0), below=max(below, 1.0),
                        words=len(words))


def reading_order(lines: Sequence[DetectedLine], min_gutter: float | None = None) -> list[DetectedLine]:
    """Columns left to right, each top to bottom; a line spanning columns (a title) starts a new
    section. `min_gutter`: the narrowest gap between columns (default: the median line height)."""
    if not lines:
        return []
    if min_gutter is None:
        min_gutter = float(np.median([line.height for line in lines]))
    return _order(list(lines), min_gutter)


def _order(lines: list[DetectedLine], min_gutter: float) -> list[DetectedLine]:
    if len(lines) <= 1:
        return lines
    gutter = _gutter(lines, min_gutter)
    if gutter is not None:
        left = [line for line in lines if line.right <= gutter]
        right = [line for line in lines if line.right > gutter]
        return _order(left, min_gutter) + _order(right, min_gutter)
    sections: list[list[DetectedLine]] = []
    for band in _bands(lines):
        if sections and _gutter(sections[-1] + band, min_gutter) is not None:
            sections[-1].extend(band)
        else:
            sections.append(list(band))
    if len(sections) == 1:  # one column with nothing to cut: top to bottom along the lines
        return sorted(lines, key=lambda line: (line.intercept + line.slope * (line.left + line.right) / 2,
                                               line.left))
    return [line for section in sections for line in _order(section, min_gutter)]


def _gutter(lines: list[DetectedLine], min_gutter: float) -> float | None:
    """The middle of the widest vertical gap (at least `min_gutter` wide) that no line crosses."""
    start = min(line.left for line in lines)
    end = max(line.right for line in lines)
    spans = sorted((line.left, line.right) for line in lines)
    best, best_width, covered = None, min_gutter, start
    for left, right in spans:
        if left - covered >= best_width:
            best, best_width = (covered + left) / 2, left - covered
        covered = max(covered, right)
    return best if best is not None and best < end else None


def _bands(lines: list[DetectedLine]) -> list[list[DetectedLine]]:
    """Lines grouped into horizontal bands: a line overlapping the band's lowest line by more
    than half the smaller height joins it."""
    bands: list[list[DetectedLine]] = []
    for line in sorted(lines, key=lambda line: line.top):
        if bands:
            last = max(bands[-1], key=lambda other: other.bottom)
            overlap = last.bottom - line.top
            if overlap > 0.5 * min(line.bottom - line.top, last.bottom - last.top):
                bands[-1].append(line)
                continue
        bands.append([line])
    return bands


def crop_line(gray: Image.Image, line: DetectedLine, margin: float = LINE_MARGIN,
              side_margin: float = SIDE_MARGIN, background: int | None = None) -> Image.Image:
    """The line cut out along its centre line, upright, at the page's own resolution; past the
    page's edges it is filled with `background` (default: the page's paper shade)."""
    quad = line.quad(margin, side_margin)
    width = max(1, round(math.hypot(quad[6] - quad[0], quad[7] - quad[1])))
    height = max(1, round(line.height * (1 + 2 * margin)))
    return gray.transform((width, height), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR,
                          fillcolor=page_background(gray) if background is None else background)


def page_background(gray: Image.Image) -> int:
    """The page's paper shade (its brightest common value), used past the page's edges."""
    return int(np.percentile(np.asarray(gray.reduce(4) if min(gray.size) >= 16 else gray), 90))


class LineDetector:
    """CRAFT + the steps above: `detect(page)` -> the page's lines in reading order.

    `craft` is the network or a function that loads it: then it is loaded on the first page that
    needs it (a dataset of untouched rendered pages never pays the 83 MB load)."""

    def __init__(self, craft: torch.nn.Module | Callable[[], torch.nn.Module], weights_id: str,
                 canvas: int = DEFAULT_CANVAS, text_threshold: float = TEXT_THRESHOLD,
                 link_threshold: float = LINK_THRESHOLD, low_text: float = LOW_TEXT,
                 margin: float = LINE_MARGIN, side_margin: float = SIDE_MARGIN) -> None:
        self._craft = craft if isinstance(craft, torch.nn.Module) else None
        self._load = None if isinstance(craft, torch.nn.Module) else craft
        self._lock = threading.Lock()
        self.weights_id = weights_id
        self.canvas = canvas
        self.text_threshold = text_threshold
        self.link_threshold = link_threshold
        self.low_text = low_text
        self.margin = margin
        self.side_margin = side_margin

    def identity(self) -> dict[str, Any]:
        """Everything the detected lines depend on besides the pixels (part of the readings key)."""
        return {"detector": "craft", "weights": self.weights_id, "canvas": self.canvas,
                "text_threshold": self.text_threshold, "link_threshold": self.link_threshold,
                "low_text": self.low_text, "margin": self.margin, "side_margin": self.side_margin,
                "version": 1}

    @property
    def craft(self) -> torch.nn.Module:
        with self._lock:
            if self._craft is None:
                self._craft = self._load()
            return self._craft

    @property
    def loaded(self) -> bool:
        """Whether the network has been loaded (it is on the first page that needs it)."""
        return self._craft is not None

    def detect(self, gray: Image.Image) -> list[DetectedLine]:
        region, affinity, to_page = score_maps(self.craft, gray, self.canvas)
        words = find_words(region, affinity, to_page, self.text_threshold, self.link_threshold, self.low_text)
        return reading_order(group_lines(words))

    def line_images(self, gray: Image.Image) -> list[Image.Image]:
        """The page's lines, cut out upright, in reading order."""
        lines = self.detect(gray)
        background = page_background(gray) if lines else 255
        return [crop_line(gray, line, self.margin, self.side_margin, background) for line in lines]


def load_line_detector(canvas: int = DEFAULT_CANVAS, lazy: bool = True) -> LineDetector:
    """The pretrained CRAFT detector (craft_mlt_25k) with EasyOCR's thresholds; `lazy`: the
    network loads on the first page that needs it (its identity, the file's SHA-256, is known now)."""
    from deepsynth.models.builtin.craft import craft_weights_path, load_craft
    from deepsynth.models.builtin.crnn import file_sha256

    path = craft_weights_path()
    craft = (lambda: load_craft(path)) if lazy else load_craft(path)
    return LineDetector(craft, weights_id=f"craft_mlt_25k:{file_sha256(str(path))[:16]}", canvas=canvas)
