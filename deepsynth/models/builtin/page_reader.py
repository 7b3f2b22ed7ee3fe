"""The frozen page reader: page images -> `PageReading` (OCR text and, optionally, vision tokens).

A reading is a pure function of the page pixels and the reader's `identity()`, so readings are
computed once per dataset and cached (`deepsynth.models.reading.read_dataset`).

Lines: a page DeepSynth rendered and nobody changed since (`deepsynth.render.mark`) is cut by its
own layout (`lines.find_lines`, exact); any other page (a degraded copy, a scan, a PDF page) goes
through the reader's `line_detector` (CRAFT, `line_detection.py`) when it has one.

Speed: lines of all the documents in a call are cut, resized to 64 px high, sorted by width and
read in batches of similar width (little padding), under `torch.inference_mode`.

Pages the reader cannot read are counted on each reading, never hidden: `pages_without_lines`
(blank, or no text found) and `unreadable_pages` (lines found, but the characters read have a mean
confidence under `MIN_CONFIDENCE`: a script english_g2 does not know, a page too degraded).
"""

from __future__ import annotations


from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from deepsynth.models.builtin.crnn import (
    ENGLISH_G2_CHARACTERS, LINE_HEIGHT, Crnn, columns_for_width, ctc_greedy_decode)
from deepsynth.models.builtin.lines import find_lines, line_tensor
from deepsynth.render.mark import is_untouched_render

MIN_CONFIDENCE = 0.93
"""A page whose characters were read with a mean CTC probability below this recovered almost
nothing (english_g2, bench/detect_read.py: English wiki pages 0.99 by layout, 0.98-0.99 through
the detector, degraded too; Greek 0.91, Russian 0.89 (read as look-alike Latin letters), Arabic
0.82, Hindi 0.75; CJK drawn as missing-glyph boxes 0.83)."""


@dataclass(frozen=True)
class PageReading:
    """What the frozen reader saw in one document (all its pages)."""

    text: str
    """Greedy CTC text, lines joined by spaces, pages by newlines."""
    features: torch.Tensor | None = field(default=None, compare=False)
    """(tokens, feature_size) float32 vision tokens (pooled CRNN columns), or None."""
    pages_without_lines: int = field(default=0, compare=False)
    """Pages where no text line was found (blank pages, pictures): kept, counted."""
    unreadable_pages: int = field(default=0, compare=False)
    """Pages with lines from which the reader recovered almost nothing (see `MIN_CONFIDENCE`)."""

    @property
    def unreadable(self) -> bool:
        """True when some page of the document could not be read: not to be trained on silently."""
        return self.unreadable_pages > 0


@dataclass(frozen=True)
class ReadLine:
    """One text line of a page: what the reader read and where (page pixels)."""

    text: str
    box: tuple[float, float, float, float]
    """(left, top, right, bottom) of the line's text in page pixels."""


@dataclass
class _Line:
    document: int
    page: int
    order: int
    pixels: np.ndarray  # (64, W) float32 in [-1, 1]
    page_break: bool  # first line of a page after the first


class CrnnPageReader:
    """Reads pages with a CRNN line recognizer (EasyOCR english_g2, or a tiny random one)."""

    def __init__(self, crnn: Crnn, name: str, weights_id: str, with_features: bool = False,
                 feature_pool: int = 16, max_feature_tokens: int = 192,
                 max_batch_pixels: int = 64 * 2600 * 16, characters: str = ENGLISH_G2_CHARACTERS,
                 line_height: int = LINE_HEIGHT, width_scale: float = 1.0, margin: float = 0.25,
                 precision: str = "float32", line_detector: Any = None,
                 min_confidence: float | None = MIN_CONFIDENCE) -> None:
        from deepsynth.models.builtin.reader_int8 import int8_available, quantize_crnn

        crnn = crnn.eval().requires_grad_(False)
        self.head = crnn.Prediction  # the CTC head stays float32 (soft-character projection init)
        self.precision = "int8" if precision == "int8" and int8_available() else "float32"
        if self.precision == "int8":
            self.crnn = quantize_crnn(crnn, line_height)
        else:
            # channels_last: oneDNN's float convolutions ran ~1.8x faster in that layout here.
            self.crnn = crnn.to(memory_format=torch.channels_last)
        self.name = name
        self.weights_id = weights_id
        self.with_features = with_features
        self.feature_pool = feature_pool
        self.max_feature_tokens = max_feature_tokens
        self.max_batch_pixels = max_batch_pixels
        self.characters = characters
        self.line_height = line_height
        self.width_scale = width_scale
        self.margin = margin
        self.line_detector = line_detector
        self.min_confidence = min_confidence
        """Pages read with a lower mean character confidence are counted unreadable; None: never
        (a random test reader's confidences say nothing)."""
        """`LineDetector` for pages DeepSynth did not render untouched; None: layout for all. Its
        identity is part of the readings cache key (`reading.dataset_key`), not of `identity()`:
        adapter cards record that, and adapters trained before the detector must still load."""

    @property
    def feature_size(self) -> int:
        return self.crnn.feature_size

    def identity(self) -> dict[str, Any]:
        """Everything a reading depends on besides the pixels (the cache key)."""
        identity = {"reader": self.name, "weights": self.weights_id, "precision": self.precision,
                    "line_height": self.line_height, "width_scale": self.width_scale,
                    "margin": self.margin, "features": self.with_features,
                    "feature_pool": self.feature_pool, "max_feature_tokens": self.max_feature_tokens,
                    "version": 1}
        if self.precision == "int8":
            import PIL

            from deepsynth.models.builtin.reader_int8 import CALIBRATION_VERSION

            identity.update(calibration=CALIBRATION_VERSION, pillow=PIL.__version__)
        return identity

    def ctc_head(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (classes, feature_size), bias (classes,)) of the CTC head: soft-character init."""
        return self.head.weight.detach().clone(), self.head.bias.detach().clone()

    def read_pages(self, pages: Sequence[Image.Image]) -> PageReading:
        return self.read_documents([pages])[0]

    def read_documents(self, documents: Sequence[Sequence[Image.Image]]) -> list[PageReading]:
        lines = self._cut_lines(documents)
        texts: list[str] = [""] * len(lines)
        features: list[torch.Tensor | None] = [None] * len(lines)
        confidences: list[float] = [0.0] * len(lines)
        for batch in self._batches(lines):
            batch_texts, batch_features, batch_confidences = self._read_batch([lines[i].pixels for i in batch])
            for slot, index in enumerate(batch):
                texts[index] = batch_texts[slot]
                confidences[index] = batch_confidences[slot]
                if batch_features is not None:
                    features[index] = batch_features[slot]
        page_counts = [len(pages) for pages in documents]
        return self._assemble(page_counts, lines, texts, features, confidences)

    def read_lines(self, page: Image.Image) -> list[ReadLine]:
        """One page's text lines in reading order, each with its text and its box, cut as
        `read_documents` cuts them (layout for an untouched render, else the line detector)."""
        gray = page.convert("L") if page.mode != "L" else page
        located = self._located_lines(page, gray)
        lines = [_Line(0, 0, i, line_tensor(crop, self.line_height, self.width_scale), False)
                 for i, (_, crop) in enumerate(located)]
        texts = [""] * len(lines)
        for batch in self._batches(lines):
            batch_texts = self._read_batch([lines[i].pixels for i in batch])[0]
            for slot, index in enumerate(batch):
                texts[index] = batch_texts[slot]
        return [ReadLine(text, box) for text, (box, _) in zip(texts, located)]

    # -- steps -------------------------------------------------------------------------------

    def _cut_lines(self, documents: Sequence[Sequence[Image.Image]]) -> list[_Line]:
        lines = []
        for doc_index, pages in enumerate(documents):
            order = 0
            for page_index, page in enumerate(pages):
                gray = page.convert("L") if page.mode != "L" else page
                for box_index, crop in enumerate(self._line_images(page, gray)):
                    lines.append(_Line(doc_index, page_index, order,
                                       line_tensor(crop, self.line_height, self.width_scale),
                                       page_break=page_index > 0 and box_index == 0))
                    order += 1
        return lines

    def _line_images(self, page: Image.Image, gray: Image.Image) -> list[Image.Image]:
        """The page's text lines in reading order, each cropped from `gray`."""
        if self.line_detector is not None and not is_untouched_render(page):
            return self.line_detector.line_images(gray)
        boxes = find_lines(np.asarray(gray), margin=self.margin)
        return [gray.crop((box.left, box.top, box.right, box.bottom)) for box in boxes]

    def _located_lines(self, page: Image.Image, gray: Image.Image) -> list[tuple[tuple[float, ...], Image.Image]]:
        """(box, crop) per text line, as `_line_images` cuts them; the detector's box is its words' bounds."""
        if self.line_detector is not None and not is_untouched_render(page):
            from deepsynth.models.builtin.line_detection import crop_line, page_background

            detector = self.line_detector
            found = detector.detect(gray)
            background = page_background(gray) if found else 255
            return [((line.left, line.top, line.right, line.bottom),
                     crop_line(gray, line, detector.margin, detector.side_margin, background)) for line in found]
        boxes = find_lines(np.asarray(gray), margin=self.margin)
        return [((box.left, box.top, box.right, box.bottom), gray.crop((box.left, box.top, box.right, box.bottom)))
                for box in boxes]

    def _batches(self, lines: list[_Line]) -> list[list[int]]:
        """Indices grouped by similar width (sorted), each batch under `max_batch_pixels`."""
        order = sorted(range(len(lines)), key=lambda i: lines[i].pixels.shape[1])
        batches, current = [], []
        for index in order:
            width = lines[index].pixels.shape[1]
            too_wide = current and width > 1.25 * lines[current[0]].pixels.shape[1]
            too_big = current and (len(current) + 1) * width * self.line_height > self.max_batch_pixels
            if too_wide or too_big:
                batches.append(current)
                current = []
            current.append(index)
        if current:
            batches.append(current)
        return batches

    def _read_batch(self, images: list[np.ndarray]) -> tuple[list[str], list[torch.Tensor] | None, list[float]]:
        """Texts, pooled features (or None) and, per line, the summed probability of the
        characters read (their count is the text's length)."""
        widths = [image.shape[1] for image in images]
        max_width = max(widths)
        # Pad on the right by repeating the last column, as EasyOCR's NormalizePAD does.
        batch = np.stack([np.pad(image, ((0, 0), (0, max_width - image.shape[1])), mode="edge")
                          for image in images])
        with torch.inference_mode():
            images_in = torch.from_numpy(batch).unsqueeze(1)
            if self.precision == "float32":
                images_in = images_in.contiguous(memory_format=torch.channels_last)
            columns = self.crnn.columns(images_in)  # (B, T, F)
            logits = self.crnn.Prediction(columns)
            steps = torch.tensor([columns_for_width(w) for w in widths])
            texts = ctc_greedy_decode(logits, steps, self.characters)
            confidences = _character_confidences(logits, steps)
            if not self.with_features:
                return texts, None, confidences
            pooled = [self._pool(columns[row, : int(steps[row])]) for row in range(len(images))]
        return texts, pooled, confidences

    def _pool(self, columns: torch.Tensor) -> torch.Tensor:
        """Average non-overlapping windows of `feature_pool` columns: (T, F) -> (ceil(T/p), F)."""
        steps, size = columns.shape
        pad = (-steps) % self.feature_pool
        if pad:
            columns = torch.cat([columns, columns[-1:].expand(pad, size)])
        return columns.reshape(-1, self.feature_pool, size).mean(dim=1).float().clone()

    def _assemble(self, page_counts: list[int], lines: list[_Line], texts: list[str],
                  features: list[torch.Tensor | None], confidences: list[float]) -> list[PageReading]:
        per_doc: list[list[int]] = [[] for _ in page_counts]
        for index, line in enumerate(lines):
            per_doc[line.document].append(index)
        readings = []
        for indices in per_doc:
            indices.sort(key=lambda i: lines[i].order)
            text = ""
            for i in indices:
                if texts[i]:
                    separator = "\n" if lines[i].page_break else " "
                    text = f"{text}{separator}{texts[i]}" if text else texts[i]
            doc_features = None
            if self.with_features:
                parts = [features[i] for i in indices if features[i] is not None]
                doc_features = (torch.cat(parts)[: self.max_feature_tokens] if parts
                                else torch.zeros(0, self.feature_size))
            without_lines, unreadable = _page_counts(page_counts[len(readings)], [lines[i] for i in indices],
                                                     [texts[i] for i in indices], [confidences[i] for i in indices],
                                                     self.min_confidence)
            readings.append(PageReading(text=text, features=doc_features, pages_without_lines=without_lines,
                                        unreadable_pages=unreadable))
        return readings


def _character_confidences(logits: torch.Tensor, steps: torch.Tensor) -> list[float]:
    """Per row, the sum of the best-path probabilities at the steps that emit a character (a
    non-blank class different from the step before: what greedy decoding keeps)."""
    best, classes = logits.float().softmax(dim=-1).max(dim=-1)  # (B, T)
    previous = torch.nn.functional.pad(classes[:, :-1], (1, 0))
    emitted = (classes != 0) & (classes != previous)
    emitted &= torch.arange(classes.shape[1]).unsqueeze(0) < steps.unsqueeze(1)
    return (best * emitted).sum(dim=1).tolist()


def _page_counts(pages: int, lines: list[_Line], texts: list[str], confidences: list[float],
                 min_confidence: float | None = MIN_CONFIDENCE) -> tuple[int, int]:
    """(pages with no line, pages with lines whose characters' mean confidence < `min_confidence`;
    0 when it is None)."""
    characters, probability = [0] * pages, [0.0] * pages
    has_lines = [False] * pages
    for line, text, confidence in zip(lines, texts, confidences):
        has_lines[line.page] = True
        characters[line.page] += len(text)
        probability[line.page] += confidence
    if min_confidence is None:
        return pages - sum(has_lines), 0
    unreadable = sum(1 for page in range(pages) if has_lines[page]
                     and (characters[page] == 0 or probability[page] / characters[page] < min_confidence))
    return pages - sum(has_lines), unreadable
