"""Pages: splitting, the page cap and truncation, the instruction header, DeepSeek-OCR modes,
and the notes the renderer returns."""

import numpy as np
import pytest
from render_helpers import ink_columns, ink_rows, row_bands

from deepsynth.render import MODES, RenderConfig, augmented_text, render_document

SMALL = dict(page_width=400, page_height=300, margin=20, font_size=20, line_spacing=1.5)  # pitch 30


def numbered_lines(count):
    return "\n".join(f"line {k}" for k in range(count))


def test_short_text_is_one_grayscale_page(paragraph):
    document = render_document(paragraph)
    assert len(document.pages) == 1 and not document.truncated
    page = document.pages[0]
    assert page.mode == "L" and page.size == (1024, 1448)
    assert document.warnings == () and document.missing_glyphs == ()
    assert document.rendered_characters == len(paragraph)


def test_long_text_splits_into_full_pages():
    config = RenderConfig(**SMALL, max_pages=10)
    per_page = (300 - 2 * 20) // 30  # 8 lines fit between the margins
    document = render_document(numbered_lines(20), config)
    assert len(document.pages) == 3 and not document.truncated
    counts = [len(row_bands(ink_rows(page))) for page in document.pages]
    assert counts == [per_page, per_page, 20 - 2 * per_page]


def test_page_cap_truncates_and_says_so():
    config = RenderConfig(**SMALL, max_pages=2)
    text = numbered_lines(20)
    document = render_document(text, config)
    assert len(document.pages) == 2 and document.truncated
    kept = text.index("line 15") + len("line 15")  # lines 0..15 fill two pages of 8
    assert document.rendered_characters == kept
    assert any("truncated" in note and "max_pages=2" in note and f"first {kept} of {len(text)}" in note
               for note in document.warnings)


def test_exactly_full_pages_are_not_truncated():
    document = render_document(numbered_lines(16) + "\n\n\n", RenderConfig(**SMALL, max_pages=2))
    assert len(document.pages) == 2 and not document.truncated


def test_enormous_document_costs_only_the_kept_pages():
    text = "word " * 2_000_000  # 10 MB on one line
    document = render_document(text, RenderConfig(max_pages=2))
    assert document.truncated and len(document.pages) == 2
    assert document.rendered_characters < 20_000


def test_blank_lines_do_not_open_a_page():
    document = render_document("\n\n\nfirst\n\n\n\n\n\n\n\n\n\n\nsecond", RenderConfig(**SMALL))
    first_rows = ink_rows(document.pages[0])
    assert first_rows.min() < 20 + 30  # "first" is on the first line, not pushed down
    assert len(document.pages) == 2
    assert ink_rows(document.pages[1]).min() < 20 + 30  # a page never starts with blank lines


def test_empty_document_gives_a_blank_page_and_a_note():
    document = render_document("   \n  ")
    assert len(document.pages) == 1 and ink_rows(document.pages[0]).size == 0
    assert any("no text" in note for note in document.warnings)


def test_instruction_header_is_drawn_above_the_body_and_returned(paragraph):
    config = RenderConfig()
    plain = render_document(paragraph, config)
    instructed = render_document(paragraph, config, instruction="Summarize the text below.")
    assert instructed.instruction == "Summarize the text below." and plain.instruction == ""
    plain_bands = row_bands(ink_rows(plain.pages[0]))
    bands = row_bands(ink_rows(instructed.pages[0]))
    assert len(bands) == len(plain_bands) + 1  # one header line, then the same body lines
    body_top = bands[1][0]
    assert bands[0][1] < body_top - config.header_gap  # header ink, a gap, then the body
    assert body_top > plain_bands[0][0]  # the body moved down to make room
    assert augmented_text(paragraph, instructed.instruction) == f"Summarize the text below.\n\n{paragraph}"
    assert augmented_text(paragraph, "") == paragraph


def test_header_on_every_page_repeats_it():
    text = numbered_lines(30)
    once = render_document(text, RenderConfig(**SMALL, max_pages=10), instruction="Read.")
    every = render_document(text, RenderConfig(**SMALL, max_pages=10, header_on_every_page=True),
                            instruction="Read.")
    assert len(every.pages) > len(once.pages)
    second_once, second_every = once.pages[1], every.pages[1]
    assert not np.array_equal(np.asarray(second_once), np.asarray(second_every))


def test_too_long_instruction_is_cut_with_a_note():
    document = render_document("body", RenderConfig(**SMALL), instruction="please " * 200)
    assert any("instruction header" in note for note in document.warnings)
    assert ink_rows(document.pages[0]).size  # the body still has a line on the first page


@pytest.mark.parametrize("mode", [m for m in MODES if m != "none"])
def test_modes_resize_and_pad_to_the_square(mode, paragraph):
    side = MODES[mode]
    document = render_document(paragraph * 3, RenderConfig(mode=mode))
    page = document.pages[0]
    assert page.size == (side, side) and page.mode == "L"
    # a portrait page keeps its proportions: white bands left and right, text in the middle
    content = round(1024 * side / 1448)
    columns = ink_columns(page)
    assert columns.min() >= (side - content) // 2 and columns.max() < (side + content) // 2


def test_colors_are_applied():
    document = render_document("Inverse video", RenderConfig(text_color=255, background_color=0))
    pixels = np.asarray(document.pages[0])
    assert pixels.max() == 255 and (pixels == 0).mean() > 0.95


def test_right_to_left_without_raqm_is_reported():
    document = render_document("مرحبا بالعالم", RenderConfig(layout_engine="basic", page_height=300))
    assert any("layout_engine=basic" in note and "without shaping" in note for note in document.warnings)
    assert "م" in " ".join(document.warnings)


def test_control_characters_are_removed_with_a_note():
    document = render_document("bell\x07 and null\x00 here\r\nnext line")
    assert any("control character" in note and "U+0007" in note for note in document.warnings)
    assert len(row_bands(ink_rows(document.pages[0]))) == 2  # \r\n is one line break


def test_enormous_unbroken_string_is_cut_into_lines_lazily():
    text = "x" * 3_000_000  # no space anywhere: one "word" of 3 MB
    document = render_document(text, RenderConfig(max_pages=1))
    assert document.truncated and len(document.pages) == 1
    assert 0 < document.rendered_characters < 10_000
    columns = ink_columns(document.pages[0])
    assert columns.max() < 1024 - 48
