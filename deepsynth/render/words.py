"""Words as the unit of layout: measured once, drawn once into a sprite, then pasted.

A document repeats its words, and a dataset repeats them across documents, so each distinct word
is split into font runs (per-character fallback), measured and drawn once per process, and every
later occurrence costs a dictionary lookup and a paste. Pasting a word sprite gives the same pixels
as drawing the word in place (the golden-hash test pins the result).

Geometry, in pixels relative to the pen position on the baseline (y grows downwards):
`advance` is where the next word's pen would start; the ink box is [ink_left, ink_right) x
[ink_top, ink_bottom). Layout uses `width` = the union of advance and ink, so words laid side by
side never put ink outside the widths the wrapper added up.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from deepsynth.render.fonts import (FontChain, bidi_available, font_chain, is_invisible, is_mark,
                                    sized_font, uses_raqm)

# Sprites are kept as Pillow core images (what `getmask2` returns): pasting them skips the checks
# Image.paste makes, which cost more than the paste itself for a word.
ImagingCore = Any
WORD_CACHE_LIMIT = 20_000  # distinct words kept per style (~30 MB of sprites); then start afresh
# FreeType faces must not be used by two threads at once, and styles can share a loaded font
# (`sized_font` is cached by file and size), so one lock guards all glyph work in the process.
# Only cache misses take it; a cached word costs a dict lookup.
_FREETYPE_LOCK = threading.Lock()


def direction_of(text: str) -> str | None:
    """"rtl" or "ltr" from the first strong character (Unicode bidi rule P2), None if neutral."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return None


def _needs_complex_layout(char: str) -> bool:
    return unicodedata.bidirectional(char) in ("R", "AL") or is_mark(char)


@dataclass(frozen=True)
class _Part:
    """One font run of a word, placed at `pen` in visual order."""

    pen: float
    face: int
    text: str
    direction: str | None


class Word:
    """A measured word (see the module docstring for the geometry); its sprite is drawn lazily."""

    __slots__ = ("text", "advance", "ink_left", "ink_top", "ink_right", "ink_bottom", "direction",
                 "missing", "unshaped", "parts", "box_left", "width", "sprite")

    def __init__(self, text: str, advance: float, ink: tuple[int, int, int, int], direction: str | None,
                 missing: tuple[str, ...], unshaped: tuple[str, ...], parts: tuple[_Part, ...],
                 sprite: ImagingCore | None | bool = False) -> None:
        self.text = text
        self.advance = advance
        self.ink_left, self.ink_top, self.ink_right, self.ink_bottom = ink
        self.direction = direction
        self.missing = missing
        """Characters no font in the chain has (drawn with the main font's missing-glyph box)."""
        self.unshaped = unshaped
        """Characters that needed raqm (right-to-left or combining) but were drawn without it."""
        self.parts = parts
        self.box_left = min(0, self.ink_left)
        self.width = max(advance, self.ink_right) - self.box_left
        """What the word occupies on a line: the union of its advance and its ink."""
        self.sprite = sprite
        """The ink as an "L" mask (Pillow core image, 255 = full ink) sized to the ink box; None
        when the word has no ink; False until drawn."""

    @property
    def has_ink(self) -> bool:
        return self.ink_right > self.ink_left and self.ink_bottom > self.ink_top

    def __repr__(self) -> str:
        return f"Word({self.text!r}, width={self.width:.1f})"


class TextStyle:
    """A font chain at one pixel size with one layout engine, plus its word cache."""

    def __init__(self, chain: FontChain, size: int, raqm: bool) -> None:
        self.chain = chain
        self.size = size
        self.raqm = raqm
        self.bidi = raqm and bidi_available()
        self._fonts: dict[int, ImageFont.FreeTypeFont] = {}
        self._words: dict[str, Word] = {}
        self._lock = _FREETYPE_LOCK
        with self._lock:
            main = self.font(0)
            self.space = main.getlength(" ")
            self.ascent, self.descent = main.getmetrics()

    def font(self, face: int) -> ImageFont.FreeTypeFont:
        loaded = self._fonts.get(face)
        if loaded is None:
            loaded = self._fonts[face] = sized_font(self.chain.faces[face].path, self.size, self.raqm)
        return loaded

    def word(self, text: str) -> Word:
        """The measured word, from the cache when it was seen before."""
        cached = self._words.get(text)
        if cached is not None:
            return cached
        with self._lock:
            if len(self._words) >= WORD_CACHE_LIMIT:
                self._words.clear()
            measured = self._words[text] = self._measure(text)
        return measured

    def sprite(self, word: Word) -> ImagingCore | None:
        """The word's ink mask (see `Word.sprite`), drawn on first use."""
        if word.sprite is False:
            with self._lock:
                if word.sprite is False:
                    word.sprite = self._draw(word)
        return word.sprite  # type: ignore[return-value]

    def _runs(self, text: str) -> tuple[list[tuple[int, str]], list[str], list[str]]:
        """Split `text` into (face, substring) runs by per-character fallback."""
        runs: list[tuple[int, list[str]]] = []
        missing: list[str] = []
        unshaped: list[str] = []
        for char in text:
            if is_invisible(char):
                if self.raqm and runs:  # HarfBuzz hides default-ignorables; basic would draw boxes
                    runs[-1][1].append(char)
                continue
            if not self.raqm and _needs_complex_layout(char):
                unshaped.append(char)
            if runs and is_mark(char) and self.chain.covers(runs[-1][0], char):
                runs[-1][1].append(char)
                continue
            face = self.chain.face_for(char)
            if face < 0:
                missing.append(char)
                face = 0
            if runs and runs[-1][0] == face:
                runs[-1][1].append(char)
            else:
                runs.append((face, [char]))
        return [(face, "".join(chars)) for face, chars in runs], missing, unshaped

    def _measure(self, text: str) -> Word:
        runs, missing, unshaped = self._runs(text)
        direction = direction_of(text)
        if direction == "rtl":
            # runs are in logical order; right-to-left words show the last run leftmost
            runs.reverse()
            if not self.bidi:  # no FriBiDi: put the characters in visual order ourselves
                runs = [(face, run[::-1]) for face, run in runs]
                if self.raqm:
                    unshaped += [c for c in text if unicodedata.bidirectional(c) in ("R", "AL")]
        run_direction = "rtl" if direction == "rtl" and self.bidi else None
        missing_t, unshaped_t = tuple(dict.fromkeys(missing)), tuple(dict.fromkeys(unshaped))
        if len(runs) == 1:  # one font: one layout pass gives the ink box and the sprite together
            (face, run), = runs
            font = self.font(face)
            kwargs = {"direction": run_direction} if run_direction else {}
            mask, (x, y) = font.getmask2(run, "L", anchor="ls", **kwargs)
            width, height = mask.size
            ink = (x, y, x + width, y + height) if width and height else (0, 0, 0, 0)
            return Word(text, font.getlength(run, **kwargs), ink, direction, missing_t, unshaped_t,
                        (_Part(0.0, face, run, run_direction),), sprite=mask if width and height else None)
        pen = 0.0
        parts: list[_Part] = []
        left = top = math.inf
        right = bottom = -math.inf
        for face, run in runs:
            font = self.font(face)
            kwargs = {"direction": run_direction} if run_direction else {}
            l, t, r, b = font.getbbox(run, anchor="ls", **kwargs)
            if r > l and b > t:
                parts.append(_Part(pen, face, run, run_direction))
                left, right = min(left, pen + l), max(right, pen + r)
                top, bottom = min(top, t), max(bottom, b)
            pen += font.getlength(run, **kwargs)
        if not parts:
            left = top = right = bottom = 0
        ink = (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom))
        return Word(text, pen, ink, direction, missing_t, unshaped_t, tuple(parts))

    def _draw(self, word: Word) -> ImagingCore | None:
        """Compose a word of several font runs into one sprite."""
        if not word.has_ink:
            return None
        image = Image.new("L", (word.ink_right - word.ink_left, word.ink_bottom - word.ink_top), 0)
        draw = ImageDraw.Draw(image)
        for part in word.parts:
            kwargs = {"direction": part.direction} if part.direction else {}
            draw.text((part.pen - word.ink_left, -word.ink_top), part.text, fill=255,
                      font=self.font(part.face), anchor="ls", **kwargs)
        return image.im


@lru_cache(maxsize=32)
def text_style(font: str, fallback: bool, fallback_fonts: tuple[str, ...], size: int,
               layout_engine: str) -> TextStyle:
    """The shared style for these settings (one per process: caches live as long as it does)."""
    return TextStyle(font_chain(font, fallback, fallback_fonts), size, uses_raqm(layout_engine))
