"""What the CRAFT line detector costs, kept light (no torch) so the time estimate can read it.

The detector's input size (`DEFAULT_CANVAS`) and its measured CPU seconds a page at each size
measured: `bench/detect_read.py` on wiki pages (1024x1448, one thread of a shared 2-core machine;
CPU seconds, what an idle core's wall clock would show). Pages DeepSynth rendered and nobody
changed since keep their layout's line boxes and cost nothing here; every other page (a PDF page,
a scan, a degraded copy) is detected once, before training, with the readings cached.
"""

from __future__ import annotations

DEFAULT_CANVAS = 1024
"""The detector's input: the page's longer side, in pixels. bench/detect_read.py on wiki pages
(1024x1448; CER rendered / degraded, the layout reading 0.56%; detection CPU s a page, one
thread of a loaded 2-core machine): 736: 1.20% / 6.65% (rotated lines break), 3.7 s; 1024:
0.72% / 1.44%, 7.3 s; 1472 (the page's own size): 0.64% / 1.20%, 15.5 s. 1024 keeps most of the
full size's accuracy at half its time."""

DETECT_CPU_SECONDS = {736: 3.7, 1024: 7.3, 1472: 15.5}
"""Measured detection CPU seconds a page (one thread) by canvas (see `DEFAULT_CANVAS`)."""


def detect_seconds_per_page(canvas: int = DEFAULT_CANVAS, threads: int = 1) -> float:
    """Detection seconds a page at `canvas` on `threads` threads: the measured figure, or for an
    unmeasured canvas the nearest measured one scaled by area (CRAFT's cost grows with the pixels
    it sees: 6.8-7.2 microseconds per canvas pixel squared above); threads scale it linearly, as
    the training step's estimate assumes (measured for 1-2 threads)."""
    if canvas in DETECT_CPU_SECONDS:
        seconds = DETECT_CPU_SECONDS[canvas]
    else:
        nearest = min(DETECT_CPU_SECONDS, key=lambda size: abs(size - canvas))
        seconds = DETECT_CPU_SECONDS[nearest] * (canvas / nearest) ** 2
    return seconds / max(1, int(threads))
