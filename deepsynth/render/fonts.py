"""Finding fonts and choosing, per character, the first font that can draw it.

Pillow draws a string with one font and has no glyph fallback, so DeepSynth keeps a chain: the
main font, then the user's extra fonts, then the bundled Noto fonts (`manimgx-fonts`: Noto Sans,
one Noto Sans per script Latin faces lack, Noto Sans Symbols, Noto Emoji), then a system CJK font
when one is installed. Coverage comes from each font's cmap table (read with fontTools, which
ships with matplotlib). Everything here is cached per process and safe to share between threads:
the caches only ever gain entries that are the same whichever thread computes them.
"""

from __future__ import annotations

import importlib.util
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont, features

# Debian/Ubuntu locations of CJK fonts, best first (fonts-wqy-microhei is 1.6 MB).
CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
CJK_FONT_HINT = "install a CJK font (e.g. Debian's fonts-wqy-microhei) for Chinese, Japanese and Korean"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")


def _package_dir(name: str) -> Path | None:
    """Where an installed package's files are, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=None)
def dejavu_sans_path() -> Path | None:
    """DejaVu Sans as shipped inside matplotlib's wheel."""
    root = _package_dir("matplotlib")
    path = root / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf" if root else None
    return path if path and path.is_file() else None


@lru_cache(maxsize=None)
def noto_fonts_dir() -> Path | None:
    """The folder of Noto fonts installed by the `manimgx-fonts` asset package."""
    root = _package_dir("manimgx_fonts")
    return root if root and (root / "NotoSans[wght].ttf").is_file() else None


def _noto_sans_path() -> Path | None:
    root = noto_fonts_dir()
    return root / "NotoSans[wght].ttf" if root else None


# font names accepted in RenderConfig.font (case-insensitive) -> where the file is
NAMED_FONTS = {"dejavu sans": dejavu_sans_path, "noto sans": _noto_sans_path}
FONT_NAMES = ("DejaVu Sans", "Noto Sans")


@lru_cache(maxsize=None)
def cjk_font_path() -> Path | None:
    """The first installed CJK font from `CJK_FONT_PATHS`, or None."""
    return next((Path(p) for p in CJK_FONT_PATHS if Path(p).is_file()), None)


def resolve_font(font: str) -> Path | None:
    """A font name from `NAMED_FONTS` or a font file path -> the file, or None if not found."""
    finder = NAMED_FONTS.get(font.strip().lower())
    if finder is not None:
        return finder()
    path = Path(font).expanduser()
    return path if path.is_file() else None


def font_problem(font: str) -> str | None:
    """Why `font` cannot be used, or None when it can."""
    finder = NAMED_FONTS.get(font.strip().lower())
    if finder is not None:
        if finder() is None:
            package = "matplotlib" if font.strip().lower() == "dejavu sans" else "manimgx-fonts"
            return f"{font!r} comes from the {package} package, which is not installed"
        return None
    path = Path(font).expanduser()
    if not path.is_file():
        names = ", ".join(repr(n) for n in FONT_NAMES)
        return f"no font named {font!r} and no file at that path; use {names} or a font file path"
    if path.suffix.lower() not in FONT_SUFFIXES:
        return f"{font!r} is not a TrueType/OpenType font file ({', '.join(FONT_SUFFIXES)})"
    return None


def raqm_available() -> bool:
    return bool(features.check("raqm"))


def bidi_available() -> bool:
    """Raqm can reorder right-to-left text only when Pillow also found FriBiDi."""
    return raqm_available() and bool(features.check("fribidi"))


def layout_engine_problem(engine: str) -> str | None:
    if engine == "raqm" and not raqm_available():
        return "raqm was requested but this Pillow has no raqm support; use auto or basic"
    return None


def uses_raqm(engine: str) -> bool:
    """Whether a config's `layout_engine` resolves to raqm on this machine."""
    return engine == "raqm" or (engine == "auto" and raqm_available())


def bundled_fallback_paths() -> tuple[Path, ...]:
    """Noto Sans, the Noto script fonts, Noto Sans Symbols, Noto Emoji, then a CJK font."""
    paths: list[Path] = []
    root = noto_fonts_dir()
    if root is not None:
        scripts = sorted(p for p in root.glob("NotoSans*.ttf")
                         if p.name not in ("NotoSans[wght].ttf", "NotoSans-Italic[wght].ttf",
                                           "NotoSansSymbols[wght].ttf"))
        paths += [root / "NotoSans[wght].ttf", *scripts]
        paths += [p for p in (root / "NotoSansSymbols[wght].ttf", root / "NotoEmoji[wght].ttf") if p.is_file()]
    cjk = cjk_font_path()
    if cjk is not None:
        paths.append(cjk)
    return tuple(paths)


@dataclass(frozen=True)
class FontFace:
    """One font file (the first face of a collection) and the code points it can draw."""

    path: Path
    codepoints: frozenset[int] = field(repr=False)

    @property
    def name(self) -> str:
        return self.path.stem


@lru_cache(maxsize=None)
def load_face(path: Path) -> FontFace:
    from fontTools.ttLib import TTFont  # ships with matplotlib; ~30 ms to import, so only here

    with TTFont(str(path), lazy=True, fontNumber=0) as font:
        cmap = font.getBestCmap() or {}
    return FontFace(path=path, codepoints=frozenset(cmap))


# Characters that never need a glyph of their own: joiners, variation selectors, bidi marks.
_INVISIBLE = frozenset([0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, *range(0xFE00, 0xFE10),
                        *range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0xE0100, 0xE01F0)])


def is_invisible(char: str) -> bool:
    return ord(char) in _INVISIBLE


def is_mark(char: str) -> bool:
    """Combining marks draw on the previous character, so they stay in its font when they can."""
    return unicodedata.category(char) in ("Mn", "Mc", "Me")


class FontChain:
    """Fonts tried in order for each character; `face_for` answers which one draws it."""

    def __init__(self, faces: tuple[FontFace, ...]) -> None:
        self.faces = faces
        self._choice: dict[str, int] = {}

    def face_for(self, char: str) -> int:
        """Index of the first face that has `char`, or -1 when none has."""
        index = self._choice.get(char)
        if index is None:
            code = ord(char)
            index = next((i for i, face in enumerate(self.faces) if code in face.codepoints), -1)
            self._choice[char] = index  # a racing thread computes the same value
        return index

    def covers(self, index: int, char: str) -> bool:
        return ord(char) in self.faces[index].codepoints

    def has_cjk_font(self) -> bool:
        cjk = cjk_font_path()
        return cjk is not None and any(face.path == cjk for face in self.faces)


@lru_cache(maxsize=16)
def font_chain(font: str, fallback: bool, fallback_fonts: tuple[str, ...]) -> FontChain:
    """The chain for a config's `font`, `fallback` and `fallback_fonts` fields."""
    main = resolve_font(font)
    if main is None:  # RenderConfig.validate reports this first; reaching here is a bug
        raise FileNotFoundError(font_problem(font) or font)
    paths = [main]
    if fallback:
        paths += [Path(p) for p in fallback_fonts] + list(bundled_fallback_paths())
    unique = list(dict.fromkeys(p.resolve() for p in paths))
    return FontChain(tuple(load_face(p) for p in unique))


@lru_cache(maxsize=256)
def sized_font(path: Path, size: int, raqm: bool) -> ImageFont.FreeTypeFont:
    """A loaded font at a pixel size; loading costs ~1 ms, so each is loaded once per process."""
    engine = ImageFont.Layout.RAQM if raqm else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(path), size, index=0, layout_engine=engine)
