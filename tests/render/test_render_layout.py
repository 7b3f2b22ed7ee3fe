"""Wrapping by pixel width: rendered lines never leave the text area, lines are filled greedily,
over-long words are cut, and right-to-left words are ordered by the bidi rules."""

import random

import pytest

from deepsynth.render import RenderConfig, render_document
from deepsynth.render.layout import Line, hard_wrap, visual_order, wrap
from deepsynth.render.page import _style

from render_helpers import PARAGRAPH, ink_columns, ink_rows, row_bands

MIXED = ("Plain English, Ελληνικά, кириллица, עברית, العربية, हिन्दी, ไทย, 中文, emoji 😀🎉 and "
         "Supercalifragilisticexpialidociouspneumonoultramicroscopicsilicovolcanoconiosis "
         + "x" * 300)


def random_document(seed: int) -> str:
    rng = random.Random(seed)
    vocabulary = PARAGRAPH.split() + MIXED.split()[:14] + ["W" * rng.randint(20, 90), "iiii", "—"]
    paragraphs = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 60))) for _ in range(6)]
    return "\n".join(paragraphs)


@pytest.mark.parametrize("seed, config", [
    (1, RenderConfig()),
    (2, RenderConfig(page_width=300, margin=20, font_size=18, max_pages=50)),
    (3, RenderConfig(page_width=480, margin=0, font_size=30, line_spacing=1.2, max_pages=50)),
    (4, RenderConfig(font="Noto Sans", page_width=700, margin=33, font_size=25, max_pages=50)),
])
def test_rendered_ink_never_leaves_the_text_area(seed, config):
    document = render_document(random_document(seed) + "\n" + MIXED, config)
    for page in document.pages:
        columns = ink_columns(page)
        assert columns.size, "page has no ink"
        assert columns.min() >= config.margin
        assert columns.max() < config.page_width - config.margin


def test_lines_are_filled_greedily_by_pixel_width(paragraph):
    config = RenderConfig(page_width=500, margin=20)
    style = _style(config, config.font_size)
    width = config.text_width - 1
    lines = list(wrap(paragraph * 3, style, width))
    assert len(lines) > 3
    for line, following in zip(lines, lines[1:]):
        used = sum(w.width for w in line.words) + style.space * (len(line.words) - 1)
        assert used <= width
        # the next line's first word would not have fitted on this one
        assert used + style.space + following.words[0].width > width


def test_wrapping_matches_pillow_textlength_breaks(paragraph):
    config = RenderConfig(page_width=640, margin=10)
    style = _style(config, config.font_size)
    width = config.text_width - 1
    font = style.font(0)
    ours = [" ".join(w.text for w in line.words) for line in wrap(paragraph * 2, style, width)]
    reference, current = [], ""  # textlength-based greedy wrap of the same words
    for word in (paragraph * 2).split():
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > width:
            reference.append(current)
            current = word
        else:
            current = candidate
    reference.append(current)
    assert ours == reference


def test_a_word_longer_than_a_line_is_cut_into_fitting_pieces():
    config = RenderConfig(page_width=300, margin=10)
    style = _style(config, config.font_size)
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    pieces = list(hard_wrap(word, style, 279))
    assert "".join(pieces) == word and len(pieces) > 2
    assert all(style.word(piece).width <= 279 for piece in pieces)
    assert style.word(pieces[0] + pieces[1][0]).width > 279  # each cut is as late as possible


def test_cut_never_separates_a_combining_mark():
    config = RenderConfig(page_width=300, margin=10)
    style = _style(config, config.font_size)
    word = "e\u0301" * 80
    for piece in hard_wrap(word, style, 279):
        assert piece[0] == "e"


def test_lines_are_separated_by_blank_rows(paragraph):
    config = RenderConfig()
    page = render_document(paragraph * 4, config).pages[0]
    bands = row_bands(ink_rows(page))
    lines = len(list(wrap(paragraph * 4, _style(config, config.font_size), config.text_width - 1)))
    assert len(bands) == lines  # a horizontal projection profile finds each line


def words(line):
    return [w.text for w in visual_order(line)]


def make_line(text, direction="ltr"):
    style = _style(RenderConfig(), 22)
    words = tuple(style.word(t) for t in text.split())
    return Line(words, direction, len(text), has_rtl=any(w.direction == "rtl" for w in words))


def test_bidi_order_of_words():
    # left-to-right paragraph: a run of Arabic words reads right to left
    assert words(make_line("one سلام عليكم two")) == ["one", "عليكم", "سلام", "two"]
    # right-to-left paragraph: words reversed, an embedded English run keeps its order
    assert words(make_line("سلام big world عليكم", "rtl")) == ["عليكم", "big", "world", "سلام"]
    # a number between Arabic words stays between them
    assert words(make_line("سلام 42 عليكم", "rtl")) == ["عليكم", "42", "سلام"]


def test_right_to_left_paragraph_is_right_aligned():
    config = RenderConfig(page_height=300)
    page = render_document("مرحبا بالعالم", config).pages[0]
    columns = ink_columns(page)
    assert columns.max() >= config.page_width - config.margin - 3
    assert columns.min() > config.page_width // 2


def test_every_whitespace_breaks_words_except_no_break_spaces():
    import sys

    from deepsynth.render.layout import _WORD

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if char.isspace():
            joined = _WORD.fullmatch(f"a{char}b") is not None
            assert joined == (char in "\u00a0\u2007\u202f"), f"U+{code:04X}"
