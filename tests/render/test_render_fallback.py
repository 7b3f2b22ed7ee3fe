"""Per-character font fallback: other scripts and emoji from Noto, CJK when a CJK font is
installed, and characters no font covers reported (in the result and the log)."""

import logging
from pathlib import Path

import numpy as np
import pytest

from deepsynth.render import RenderConfig, render_document
from deepsynth.render.fonts import cjk_font_path, dejavu_sans_path, load_face, noto_fonts_dir
from deepsynth.render.page import _style


def faces_used(config, text):
    """Names of the fonts that draw `text`, in visual order."""
    style = _style(config, config.font_size)
    word = style.word(text)
    return [style.chain.faces[part.face].name for part in word.parts]


def test_default_font_is_dejavu_sans_from_matplotlib():
    path = dejavu_sans_path()
    assert path is not None and path.name == "DejaVuSans.ttf" and "matplotlib" in path.parts
    assert faces_used(RenderConfig(), "Hello") == ["DejaVuSans"]


def test_dejavu_lacks_what_noto_draws():
    # the premise of the fallback tests below: DejaVu Sans has no glyph for these
    dejavu = load_face(dejavu_sans_path())
    for char in "नก🚀":
        assert ord(char) not in dejavu.codepoints


@pytest.mark.parametrize("text, expected", [
    ("नमस्ते", "NotoSansDevanagari[wght]"),
    ("ไทย", "NotoSansThai[wght]"),
    ("🚀", "NotoEmoji[wght]"),
    ("Ελληνικά", "DejaVuSans"),  # DejaVu has Greek: the main font wins when it has the glyph
])
def test_characters_come_from_the_first_font_that_has_them(text, expected):
    assert faces_used(RenderConfig(), text) == [expected]


def test_greek_cyrillic_arabic_and_emoji_fall_back_to_noto_when_the_main_font_lacks_them():
    thai_only = str(noto_fonts_dir() / "NotoSansThai[wght].ttf")  # has no Greek, Cyrillic, Arabic
    config = RenderConfig(font=thai_only)
    assert faces_used(config, "ไทย") == ["NotoSansThai[wght]"]
    assert faces_used(config, "αβγ") == ["NotoSans[wght]"]
    assert faces_used(config, "жизнь") == ["NotoSans[wght]"]
    assert faces_used(config, "سلام") == ["NotoSansArabic[wght]"]
    assert faces_used(config, "🙂") == ["NotoEmoji[wght]"]


def test_a_word_mixing_scripts_is_split_into_font_runs():
    assert faces_used(RenderConfig(), "abcनमस्ते") == ["DejaVuSans", "NotoSansDevanagari[wght]"]


def test_combining_mark_stays_with_its_base_character():
    assert faces_used(RenderConfig(), "e\u0301") == ["DejaVuSans"]


def test_private_use_character_is_reported_missing_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="deepsynth.render"):
        document = render_document("A private \ue000 character and an emoji 😀", RenderConfig())
    assert document.missing_glyphs == ("\ue000",)
    assert any("U+E000" in note for note in document.warnings)
    assert any("U+E000" in record.getMessage() for record in caplog.records)


def test_without_fallback_the_other_scripts_are_missing_and_drawn_differently():
    text = "नमस्ते"
    with_fallback = render_document(text, RenderConfig(page_height=200))
    without = render_document(text, RenderConfig(page_height=200, fallback=False))
    assert with_fallback.missing_glyphs == ()
    assert set(without.missing_glyphs) == {"न", "म", "स", "्", "त", "े"}
    assert "fallback" in " ".join(without.warnings)
    assert not np.array_equal(np.asarray(with_fallback.pages[0]), np.asarray(without.pages[0]))


def test_cjk_is_drawn_when_a_cjk_font_is_installed_and_reported_when_not():
    document = render_document("中文 한국어 かな", RenderConfig(page_height=200))
    if cjk_font_path() is not None:  # e.g. Debian fonts-wqy-microhei
        assert document.missing_glyphs == ()
        assert faces_used(RenderConfig(), "中文") == [Path(cjk_font_path()).stem]
    else:
        assert "中" in document.missing_glyphs
        assert any("fonts-wqy-microhei" in note for note in document.warnings)


def test_extra_fallback_fonts_come_before_the_bundled_ones():
    arabic = str(noto_fonts_dir() / "NotoSansArabic[wght].ttf")
    config = RenderConfig(font=str(noto_fonts_dir() / "NotoSansThai[wght].ttf"), fallback_fonts=(arabic,))
    # Noto Sans Arabic also has basic Latin digits: given first, it now draws them
    assert faces_used(config, "12") == ["NotoSansArabic[wght]"]
