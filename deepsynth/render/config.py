"""How a document is laid out on page images: `RenderConfig`.

Defaults suit the frozen line reader downstream (EasyOCR english_g2, trained on text lines): black
text on white, a 1024-px-wide page (the width of DeepSeek-OCR's base mode), a 22-px font and
clear whitespace between lines so lines can be segmented by a horizontal projection profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepsynth.configuration import Problems, choice
from deepsynth.settings import setting

# DeepSeek-OCR's native resolution modes: the page is resized to fit this square and padded.
MODES: dict[str, int | None] = {"none": None, "tiny": 512, "small": 640, "base": 1024, "large": 1280}
LAYOUT_ENGINES = ("auto", "raqm", "basic")


@dataclass(frozen=True)
class RenderConfig:
    """Page geometry, typography and output resolution for rendering one document."""

    font_size: int = setting(22, order=2, label="Font size (px)")
    """Body text size in pixels (the font's em size)."""
    page_width: int = setting(1024, order=5)
    """Page width in pixels before any `mode` resize."""
    page_height: int = setting(1448, order=6)
    """Page height in pixels before any `mode` resize (1448 = A4 proportions at width 1024)."""
    margin: int = setting(48, order=7)
    """Blank border in pixels on all four sides; no ink is drawn inside it."""
    line_spacing: float = setting(1.4, order=8)
    """Distance between baselines as a multiple of `font_size` (>= 1.2 keeps lines separable)."""
    text_color: int = setting(0, advanced=True)
    """Gray level of the text, 0 (black) to 255 (white); pages are 8-bit grayscale ("L")."""
    background_color: int = setting(255, advanced=True)
    """Gray level of the page, 0 to 255; must differ from `text_color`."""
    max_pages: int = setting(8, order=4)
    """Most pages one document may fill; the rest is cut and the result is marked truncated."""
    mode: str = choice("none", MODES, order=3)
    """DeepSeek-OCR resolution: none (keep the page size), tiny 512, small 640, base 1024 or large
    1280 (each page resized to fit that square, aspect kept, and padded with the background)."""
    font: str = setting("DejaVu Sans", order=1)
    """Main font: a name ("DejaVu Sans" from matplotlib's wheel, "Noto Sans" from manimgx-fonts)
    or the path of a .ttf/.otf/.ttc file."""
    fallback: bool = setting(True, advanced=True)
    """Draw characters the main font lacks with the first font that has them (Noto fonts for
    other scripts, symbols and emoji; a CJK font when one is installed)."""
    fallback_fonts: tuple[str, ...] = setting((), advanced=True)
    """Extra font files tried, in order, after `font` and before the bundled fallback fonts."""
    layout_engine: str = choice("auto", LAYOUT_ENGINES, advanced=True)
    """Text layout: raqm (shaping and right-to-left via HarfBuzz/FriBiDi), basic (no shaping), or
    auto (raqm when Pillow has it; a warning names text that needed it when it does not)."""
    header_font_size: int = setting(0, advanced=True)
    """Size in pixels of the instruction header drawn above the body text; 0 = `font_size`."""
    header_gap: int = setting(30, advanced=True)
    """Blank pixels between the instruction header and the body text."""
    header_on_every_page: bool = setting(False, advanced=True)
    """Repeat the instruction header at the top of every page, not only the first."""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def line_pitch(self) -> int:
        """Pixels from one body baseline to the next."""
        return round(self.font_size * self.line_spacing)

    @property
    def header_size(self) -> int:
        """The header's pixel size (`header_font_size`, or `font_size` when that is 0)."""
        return self.header_font_size or self.font_size

    @property
    def header_pitch(self) -> int:
        return round(self.header_size * self.line_spacing)

    @property
    def text_width(self) -> int:
        """Pixels available for ink across a line."""
        return self.page_width - 2 * self.margin

    @property
    def output_size(self) -> tuple[int, int]:
        """Size of the returned pages: the page, or the mode's square."""
        side = MODES.get(self.mode)
        return (self.page_width, self.page_height) if side is None else (side, side)

    def validate(self) -> None:
        """Check every field and raise one `ConfigError` listing all problems."""
        from deepsynth.render.fonts import font_problem, layout_engine_problem

        problems = Problems("render configuration")
        bad: set[str] = set()
        for name, low, high in (("font_size", 6, 400), ("page_width", 64, 16384),
                                ("page_height", 64, 16384), ("margin", 0, 4096),
                                ("max_pages", 1, 1000),
                                ("header_gap", 0, 4096), ("text_color", 0, 255),
                                ("background_color", 0, 255)):
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                problems.add(name, f"must be an integer in [{low}, {high}], got {value!r}")
                bad.add(name)
        if not _is_int(self.header_font_size) or not (self.header_font_size == 0 or 6 <= self.header_font_size <= 400):
            problems.add("header_font_size", f"must be 0 (same as font_size) or an integer in [6, 400], "
                                             f"got {self.header_font_size!r}")
        if not (_is_number(self.line_spacing) and 1.0 <= self.line_spacing <= 4.0):
            problems.add("line_spacing", f"must be a number in [1.0, 4.0], got {self.line_spacing!r}")
            bad.add("line_spacing")
        # relations between fields, checked only when the fields involved are valid themselves
        if not bad & {"text_color", "background_color"}:
            problems.check(self.text_color != self.background_color, "text_color",
                           "must differ from background_color, or the text is invisible")
        if not bad & {"page_width", "margin", "font_size"}:
            problems.check(self.text_width >= 4 * self.font_size, "margin",
                           f"leaves {self.text_width} px of line width; need at least 4 x font_size "
                           f"= {4 * self.font_size} px (reduce margin or font_size, or widen the page)")
        if not bad & {"page_height", "margin", "font_size", "line_spacing"}:
            problems.check(self.page_height - 2 * self.margin >= self.line_pitch, "page_height",
                           f"leaves no room for one line of text between the margins "
                           f"({self.page_height - 2 * self.margin} px < {self.line_pitch} px)")
        problems.check(self.mode in MODES, "mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}")
        problems.check(isinstance(self.fallback, bool), "fallback", f"must be true or false, got {self.fallback!r}")
        problems.check(isinstance(self.header_on_every_page, bool), "header_on_every_page",
                       f"must be true or false, got {self.header_on_every_page!r}")
        if not isinstance(self.font, str) or not self.font:
            problems.add("font", f"must be a font name or a font file path, got {self.font!r}")
        else:
            message = font_problem(self.font)
            if message:
                problems.add("font", message)
        if not isinstance(self.fallback_fonts, tuple):
            problems.add("fallback_fonts", f"must be a tuple of font file paths, got {self.fallback_fonts!r}")
        else:
            for path in self.fallback_fonts:
                if not isinstance(path, str) or not Path(path).is_file():
                    problems.add("fallback_fonts", f"no font file at {path!r}")
        if self.layout_engine not in LAYOUT_ENGINES:
            problems.add("layout_engine", f"must be one of {', '.join(LAYOUT_ENGINES)}, got {self.layout_engine!r}")
        else:
            message = layout_engine_problem(self.layout_engine)
            if message:
                problems.add("layout_engine", message)
        problems.raise_if_any()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
