"""Breaking text into lines by pixel width, and ordering a line's words for display.

Wrapping is greedy over words in reading order, adding cached word widths plus one space each
(the same breaks Pillow's `textlength` gives, since kerning across a space is nil); a word wider
than a whole line is cut between characters. Lines are produced lazily so a huge document costs
only the pages that are kept.

Right-to-left text follows the Unicode bidirectional algorithm (UAX #9) at word granularity: a
paragraph's direction is its first strong character (rule P2); words take levels from their own
direction, neutral words (numbers, punctuation) the direction of strong neighbours that agree or
else the paragraph's (rules N1/N2); runs are reversed from the highest level down (rule L2).
Inside a word, raqm/FriBiDi order and shape the characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from deepsynth.render.fonts import is_invisible, is_mark
from deepsynth.render.words import TextStyle, Word, direction_of

# A word is a run of characters other than breaking whitespace: Python's whitespace (str.isspace)
# minus the no-break spaces U+00A0, U+2007 and U+202F, which stay inside words. One negated class
# keeps the scan linear and fast even over megabytes without a space.
_WORD = re.compile("[^\t\n\x0b\x0c\r\x1c-\x1f \x85\u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000]+")
LONG_WORD = 64  # longer words are measured piecewise by `hard_wrap`, never as one string


@dataclass(frozen=True)
class Line:
    """One line of text: its words in reading (logical) order."""

    words: tuple[Word, ...]
    direction: str
    """The paragraph's direction, "ltr" or "rtl" (rtl lines are right-aligned)."""
    end: int
    """Offset in the text just after this line's last character."""
    has_rtl: bool = False
    """Whether any word reads right to left (then the words need reordering)."""

    @property
    def blank(self) -> bool:
        return not self.words


def paragraphs(text: str) -> Iterator[tuple[int, str]]:
    """(offset, paragraph) for each line of `text` split at newlines."""
    start = 0
    for paragraph in text.split("\n"):
        yield start, paragraph
        start += len(paragraph) + 1


def wrap(text: str, style: TextStyle, width: float, start: int = 0) -> Iterator[Line]:
    """Lines of `text` no wider than `width` pixels; an empty paragraph gives a blank line."""
    space = style.space
    for offset, paragraph in paragraphs(text):
        offset += start
        direction = direction_of(paragraph) or "ltr"
        words: list[Word] = []
        used = 0.0
        end = offset
        has_rtl = direction == "rtl"
        for match in _WORD.finditer(paragraph):
            token = match.group()
            word = style.word(token) if len(token) <= LONG_WORD else None
            if word is not None and word.width <= width:  # the common case: the word fits a line
                pieces: Iterable[Word] = (word,)
            else:  # lazily, so a huge unbroken string costs only the lines that are kept
                pieces = map(style.word, hard_wrap(token, style, width))
            piece_start = offset + match.start()
            for word in pieces:
                needed = used + space + word.width if words else word.width
                if needed > width and words:
                    yield Line(tuple(words), direction, end, has_rtl)
                    words, needed, has_rtl = [], word.width, direction == "rtl"
                words.append(word)
                has_rtl = has_rtl or word.direction == "rtl"
                used = needed
                piece_start += len(word.text)
                end = piece_start
        yield Line(tuple(words), direction, offset + len(paragraph) if not words else end, has_rtl)


def hard_wrap(text: str, style: TextStyle, width: float) -> Iterator[str]:
    """`text` itself when it fits in `width`, else the longest fitting pieces, left to right.

    Prefix lengths grow by doubling and are then bisected, so a piece costs a few measurements of
    strings about a line long, however long `text` is (a megabyte with no space is a valid word).
    """
    start, total = 0, len(text)
    while start < total:
        fits, probe = 0, 8  # `fits`: longest prefix length known to fit
        while True:
            length = min(probe, total - start)
            if style.word(text[start:start + length]).width > width:
                break
            fits = length
            if length == total - start:
                yield text[start:]
                return
            probe *= 2
        low, high = max(fits, 1), length - 1
        while low < high:
            middle = (low + high + 1) // 2
            if style.word(text[start:start + middle]).width <= width:
                low = middle
            else:
                high = middle - 1
        cut = _cluster_boundary(text, start + low, start)
        yield text[start:cut]
        start = cut


def _cluster_boundary(text: str, cut: int, begin: int) -> int:
    """Move a cut (after `begin`) so it does not separate a mark or joiner from its character."""

    def inside(k: int) -> bool:
        return is_mark(text[k]) or is_invisible(text[k]) or is_invisible(text[k - 1])

    if cut >= len(text):
        return len(text)
    back = cut
    while back > begin and inside(back):
        back -= 1
    if back > begin:
        return back
    forward = max(cut, begin + 1)
    while forward < len(text) and inside(forward):
        forward += 1
    return forward


def visual_order(line: Line) -> list[Word]:
    """The line's words from left to right on the page."""
    words = line.words
    if not line.has_rtl:
        return list(words)  # the common case: nothing to reorder
    base = 1 if line.direction == "rtl" else 0
    directions = [word.direction for word in words]
    resolved: list[str] = []
    for index, direction in enumerate(directions):
        if direction is None:  # N1/N2: neutrals between agreeing strong words take their direction
            before = next((d for d in reversed(directions[:index]) if d), None)
            after = next((d for d in directions[index + 1:] if d), None)
            direction = before if before == after and before else line.direction
        resolved.append(direction)
    levels = [1 if d == "rtl" else (2 if base else 0) for d in resolved]
    order = list(range(len(words)))
    for level in range(max(levels), 0, -1):  # L2: reverse every run at or above each level
        index = 0
        while index < len(order):
            if levels[order[index]] >= level:
                stop = index
                while stop < len(order) and levels[order[stop]] >= level:
                    stop += 1
                order[index:stop] = reversed(order[index:stop])
                index = stop
            else:
                index += 1
    return [words[i] for i in order]


def place(line: Line, style: TextStyle, width: float) -> list[tuple[float, Word]]:
    """(x, word) pairs: x is the left edge of the word's box from the line's left edge."""
    placed: list[tuple[float, Word]] = []
    x, space = 0.0, style.space
    for word in (visual_order(line) if line.has_rtl else line.words):
        placed.append((x, word))
        x += word.width + space
    if line.direction == "rtl" and placed:
        shift = width - (x - style.space)  # right-align right-to-left paragraphs
        placed = [(left + shift, word) for left, word in placed]
    return placed
