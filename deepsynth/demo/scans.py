"""Pages degraded as scans are: turned up to 2 degrees, blurred, noisy, JPEG quality 50.

`degrade_as_scan` is the one definition the transcribe showcase (`transcribe_job.py`, which then
stores the page in a 150-DPI PDF: `scan_pdf`) and the detect + read benchmark
(`bench/detect_read.py`) use. Seeded: the same page and seed give the same pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

ROTATION_DEGREES = 2.0
"""Pages alternate between +2 and -2 degrees (a scan fed in crooked)."""
BLUR_RADIUS = (0.7, 1.1)
"""Gaussian blur radius, drawn per page (a scanner slightly out of focus)."""
NOISE_SIGMA = 12.0
"""Gaussian noise on 0-255 gray levels (sensor noise, paper texture)."""
JPEG_QUALITY = 50
"""The scan's JPEG compression."""
SCAN_DPI = 150
"""The resolution the scan's PDF says its page image has."""


def degrade_pixels(page, seed: int):
    """Rotation, blur and noise, no compression yet: a gray `PIL.Image`."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    angle = ROTATION_DEGREES if seed % 2 == 0 else -ROTATION_DEGREES
    image = page.convert("L").rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(*BLUR_RADIUS))))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0.0, NOISE_SIGMA, size=(image.height, image.width))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def degrade_as_scan(page, seed: int):
    """A scan-like copy of `page`: `degrade_pixels`, then JPEG quality 50, decoded again."""
    from PIL import Image

    buffer = io.BytesIO()
    degrade_pixels(page, seed).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def scan_pdf(page, seed: int, path: str | Path) -> Path:
    """Write `page`, degraded (`degrade_pixels`), as a one-page PDF whose image is a JPEG of
    quality 50 at `SCAN_DPI` (Pillow's PDF writer stores gray pages as DCT, JPEG, streams)."""
    path = Path(path)
    degrade_pixels(page, seed).save(path, format="PDF", resolution=float(SCAN_DPI), quality=JPEG_QUALITY)
    return path
