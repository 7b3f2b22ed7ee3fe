"""Bad inputs to inference (bad-input catalogue): page images over Pillow's pixel limit are refused
before they are decoded; text files that are not UTF-8, or empty, are refused with where.

The bomb files are real PNGs whose header claims a huge page and whose data is a few bytes: exactly
what a decompression bomb looks like before it is inflated."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image

from deepsynth.errors import InputError
from deepsynth.inference import Summarizer


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def header_only_png(width: int, height: int) -> bytes:
    """An 8-bit gray PNG claiming `width` x `height` pixels, with almost no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def summarizer(two_adapters):
    return Summarizer.for_adapter(two_adapters[0], label="one", max_new_tokens=4)


@pytest.mark.parametrize("width, height, message", [
    # 100 M pixels: between 1x and 2x the limit, where Pillow only warns and would decode it
    (10_000, 10_000, r"10000x10000 = 100,000,000 pixels, over the 89,478,485-pixel limit"),
    # 900 M pixels: over 2x, Pillow itself refuses to open it
    (30_000, 30_000, r"cannot read the image: .*exceeds limit"),
])
def test_a_page_over_the_pixel_limit_is_refused(summarizer, tmp_path, width, height, message):
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's default: nothing raised it behind our back
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(header_only_png(width, height))
    with pytest.raises(InputError, match=message):
        summarizer.summarize(image=bomb, adapter="one")


def test_an_in_memory_image_over_the_limit_is_refused(summarizer, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # a 101x100 image is then "too big"
    with pytest.raises(InputError, match=r"the image: the image is 101x100 = 10,100 pixels, over the 10,000"):
        summarizer.summarize(image=Image.new("L", (101, 100), 255), adapter="one")
    assert summarizer.summarize(image=Image.new("L", (100, 100), 255), adapter="one") is not None


def test_the_infer_command_exits_2_naming_the_limit(two_adapters, tmp_path, capsys):
    from deepsynth.cli import main

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(header_only_png(10_000, 10_000))
    assert main(["infer", "--adapter", str(two_adapters[0]), "--image", str(bomb)]) == 2
    assert "over the 89,478,485-pixel limit" in capsys.readouterr().err


def test_text_files_that_are_not_utf8_or_empty_exit_2_saying_so(two_adapters, tmp_path, capsys):
    from deepsynth.cli import main

    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Caf\u00e9 au lait".encode("latin-1"))
    assert main(["infer", "--adapter", str(two_adapters[0]), "--text-file", str(latin1)]) == 2
    assert f"{latin1}: not UTF-8 text (byte 3)" in capsys.readouterr().err
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\t\n")
    assert main(["infer", "--adapter", str(two_adapters[0]), "--text-file", str(blank)]) == 2
    assert "the text to summarize is empty" in capsys.readouterr().err
