"""Rendering a document onto page images: `render_document`.

Lines from `layout.wrap` fill pages top to bottom (an optional instruction header first), at most
`max_pages` of them; what does not fit is cut and the result says so. Each line's words are pasted
from their cached sprites. With a DeepSeek-OCR `mode`, every page is then resized to fit the
mode's square and padded with the background colour.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator

from PIL import Image

from deepsynth.render.config import MODES, RenderConfig
from deepsynth.render.fonts import CJK_FONT_HINT, raqm_available
from deepsynth.render.layout import Line, place, wrap
from deepsynth.render.mark import mark_rendered
from deepsynth.render.words import TextStyle, text_style

logger = logging.getLogger(__name__)

MAX_LISTED_CHARACTERS = 20
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # Unicode category Cc except newline


@dataclass(frozen=True)
class RenderedDocument:
    """The pages of one document and what the renderer had to tell about them."""

    pages: list[Image.Image]
    """Page images, mode "L" (8-bit gray), `config.output_size` each; at least one."""
    truncated: bool
    """True when the text needed more than `max_pages` pages and the rest was cut."""
    missing_glyphs: tuple[str, ...]
    """Characters on the pages that no font in the chain has (drawn as missing-glyph boxes)."""
    warnings: tuple[str, ...]
    """Human-readable notes: truncation, missing glyphs, text drawn without shaping, ..."""
    instruction: str = ""
    """The instruction drawn as the header ("" when none), kept as text for the dataset."""
    rendered_characters: int = field(default=0)
    """How many characters of the (newline-normalised) text are on the pages."""


def augmented_text(text: str, instruction: str | None) -> str:
    """The text a reader sees on the page: the instruction, a blank line, then the document."""
    return f"{instruction}\n\n{text}" if instruction else text


def render_document(text: str, config: RenderConfig | None = None,
                    instruction: str | None = None) -> RenderedDocument:
    """Lay out `text` (and `instruction` as a header) on page images; deterministic."""
    config = config or RenderConfig()
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    body = _style(config, config.font_size)
    header = _style(config, config.header_size)
    width = config.text_width - 1  # one pixel of slack for rounding word positions
    clean, removed = normalize_text(text)
    instruction_clean = normalize_text(instruction)[0].strip() if instruction else ""
    header_lines = _trim_blank(list(wrap(instruction_clean, header, width))) if instruction_clean else []

    layout = _paginate(config, header_lines, wrap(clean, body, width), header, body)
    pages = [_draw(config, page, width) for page in layout.pages]
    side = MODES[config.mode]
    if side is not None:
        pages = [fit_to_square(page, side, config.background_color) for page in pages]
    for page in pages:
        mark_rendered(page)  # the page reader may trust this layout while the pixels stay as drawn

    drawn = [word for page in layout.pages for _, line, _ in page for word in line.words]
    missing = tuple(dict.fromkeys(c for word in drawn for c in word.missing))
    unshaped = tuple(dict.fromkeys(c for word in drawn for c in word.unshaped))
    notes: list[str] = []
    if layout.truncated:
        notes.append(f"truncated: the document needs more than max_pages={config.max_pages} page(s); "
                     f"the pages hold its first {layout.end} of {len(clean)} characters")
    if layout.header_cut:
        notes.append("the instruction header is too long for one page and was cut")
    if missing:
        notes.append(_missing_note(missing, config, body))
    if unshaped:
        reason = ("layout_engine=basic" if config.layout_engine == "basic"
                  else "Pillow's raqm layout is not available" if not raqm_available()
                  else "Pillow's raqm has no FriBiDi")
        notes.append(f"{reason}: {len(unshaped)} right-to-left or combining character(s) were drawn "
                     f"without shaping (letters unjoined; right-to-left words put in visual order by "
                     f"DeepSynth): {_list_characters(unshaped)}")
    if removed:
        notes.append(f"removed {len(removed)} control character(s): {_list_characters(tuple(dict.fromkeys(removed)))}")
    if not clean.strip():
        notes.append("the document has no text: the page is blank")
    for note in notes:
        logger.warning("render: %s", note)
    return RenderedDocument(pages=pages, truncated=layout.truncated, missing_glyphs=missing,
                            warnings=tuple(notes), instruction=instruction_clean,
                            rendered_characters=layout.end)


def normalize_text(text: str) -> tuple[str, list[str]]:
    """Unify line breaks and drop control characters (which fonts cannot draw); tabs are spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = text.replace("\t", " ")
    removed = _CONTROL.findall(text)
    return (_CONTROL.sub("", text), removed) if removed else (text, [])


def fit_to_square(page: Image.Image, side: int, background: int) -> Image.Image:
    """Resize to fit a `side` x `side` square keeping the aspect ratio, centred on the background
    (DeepSeek-OCR pads its base and large modes the same way, to keep text proportions)."""
    scale = side / max(page.size)
    size = (max(1, round(page.width * scale)), max(1, round(page.height * scale)))
    resized = page if size == page.size else page.resize(size, Image.Resampling.LANCZOS)
    if resized.size == (side, side):
        return resized
    square = Image.new("L", (side, side), background)
    square.paste(resized, ((side - size[0]) // 2, (side - size[1]) // 2))
    return square


def _style(config: RenderConfig, size: int) -> TextStyle:
    return text_style(config.font, config.fallback, tuple(config.fallback_fonts), size, config.layout_engine)


@dataclass
class _Layout:
    pages: list[list[tuple[int, Line, TextStyle]]]
    truncated: bool = False
    header_cut: bool = False
    end: int = 0


def _paginate(config: RenderConfig, header_lines: list[Line], lines: Iterator[Line],
              header: TextStyle, body: TextStyle) -> _Layout:
    """Assign lines to pages as (top y, line, style); stop at `max_pages`."""
    layout = _Layout(pages=[])
    top, bottom = config.margin, config.page_height - config.margin
    pitch, header_pitch = config.line_pitch, config.header_pitch
    pending = next(lines, None)
    while True:
        page: list[tuple[int, Line, TextStyle]] = []
        y = top
        if header_lines and (not layout.pages or config.header_on_every_page):
            for line in header_lines:
                if y + header_pitch + config.header_gap + pitch > bottom:  # keep room for body text
                    layout.header_cut = True
                    break
                page.append((y, line, header))
                y += header_pitch
            if page:
                y += config.header_gap
        body_lines = 0
        while pending is not None:
            if pending.blank and body_lines == 0:  # no blank lines at the top of a page
                pending = next(lines, None)
                continue
            if y + pitch > bottom:
                break
            page.append((y, pending, body))
            y += pitch
            body_lines += 1
            layout.end = max(layout.end, pending.end)
            pending = next(lines, None)
        layout.pages.append(page)
        while pending is not None and pending.blank:
            pending = next(lines, None)
        if pending is None:
            return layout
        if len(layout.pages) >= config.max_pages:
            layout.truncated = True
            return layout


def _draw(config: RenderConfig, page: list[tuple[int, Line, TextStyle]], width: float) -> Image.Image:
    image = Image.new("L", (config.page_width, config.page_height), config.background_color)
    canvas = image.im  # the core image: Image.paste's own checks cost more than the paste here
    color, margin = config.text_color, config.margin
    for top, line, style in page:
        pitch = round(style.size * config.line_spacing)
        baseline = top + (pitch - style.ascent - style.descent) // 2 + style.ascent
        for x, word in place(line, style, width):
            sprite = word.sprite if word.sprite is not False else style.sprite(word)
            if sprite is None:
                continue
            left = margin + math.floor(x + word.ink_left - word.box_left + 0.5)
            upper = baseline + word.ink_top
            sprite_width, sprite_height = sprite.size
            canvas.paste(color, (left, upper, left + sprite_width, upper + sprite_height), sprite)
    return image


def _trim_blank(lines: list[Line]) -> list[Line]:
    while lines and lines[0].blank:
        lines.pop(0)
    while lines and lines[-1].blank:
        lines.pop()
    return lines


def _list_characters(chars: tuple[str, ...]) -> str:
    shown = [f"{c!r} (U+{ord(c):04X} {unicodedata.name(c, 'unnamed')})" for c in chars[:MAX_LISTED_CHARACTERS]]
    more = f" and {len(chars) - MAX_LISTED_CHARACTERS} more" if len(chars) > MAX_LISTED_CHARACTERS else ""
    return ", ".join(shown) + more


def _missing_note(missing: tuple[str, ...], config: RenderConfig, body: TextStyle) -> str:
    note = f"{len(missing)} character(s) have no glyph in any font and show as boxes: {_list_characters(missing)}"
    if not config.fallback:
        note += " (fallback fonts are off: set fallback=True)"
    elif not body.chain.has_cjk_font() and any(_is_cjk(c) for c in missing):
        note += f"; {CJK_FONT_HINT}"
    return note


def _is_cjk(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA", "IDEOGRAPHIC", "BOPOMOFO"))
