"""Helpers for the rendering tests: where the ink is on a page."""

import numpy as np

PARAGRAPH = ("The quick brown fox jumps over the lazy dog while a committee of seventeen herons "
             "debates the merits of extraordinarily long compound words, punctuation; and numbers "
             "like 1,024 or 3.14159 in the margins of a manuscript.")


def ink_mask(page, background=255):
    """Boolean array, True where a pixel differs from the background."""
    return np.asarray(page) != background


def ink_rows(page, background=255):
    """Row indices that hold ink."""
    return np.flatnonzero(ink_mask(page, background).any(axis=1))


def ink_columns(page, background=255):
    return np.flatnonzero(ink_mask(page, background).any(axis=0))


def row_bands(rows):
    """Consecutive runs of inked rows -> [(first, last)]: the text lines by projection profile."""
    bands = []
    for row in rows:
        if bands and row == bands[-1][1] + 1:
            bands[-1][1] = row
        else:
            bands.append([row, row])
    return [tuple(b) for b in bands]
