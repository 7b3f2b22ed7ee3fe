"""encode_png writes valid PNG files that decode to exactly the input pixels."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from deepsynth.render import encode_png, render_document


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_round_trip_is_lossless(mode):
    rng = np.random.default_rng(0)
    channels = len(mode)
    array = rng.integers(0, 256, size=(37, 53, channels), dtype=np.uint8)
    image = Image.fromarray(array[..., 0] if channels == 1 else array, mode)
    decoded = Image.open(io.BytesIO(encode_png(image)))
    decoded.load()
    assert decoded.mode == mode and decoded.size == image.size
    assert decoded.tobytes() == image.tobytes()


def test_rendered_page_round_trips_and_is_small(paragraph):
    page = render_document(paragraph).pages[0]
    data = encode_png(page)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(data)).tobytes() == page.tobytes()
    assert len(data) < len(page.tobytes()) / 10  # level 1 still compresses a text page well


def test_chunk_crcs_are_valid():
    data = encode_png(Image.new("L", (8, 8), 200))
    position = 8
    kinds = []
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        crc = int.from_bytes(data[position + 8 + length:position + 12 + length], "big")
        assert crc == zlib.crc32(kind + body)
        kinds.append(kind)
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_unsupported_mode_and_level_are_refused():
    with pytest.raises(ValueError, match="mode"):
        encode_png(Image.new("P", (4, 4)))
    with pytest.raises(ValueError, match="level"):
        encode_png(Image.new("L", (4, 4)), level=11)  # beyond both isal (0-3) and zlib (0-9)
