"""Fixtures for the models tests: one torch thread (the machine is shared), tiny models, pages."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

torch.set_num_threads(1)


def dejavu_font(size: int = 20):
    """DejaVu Sans from matplotlib's wheel (always installed here)."""
    import matplotlib

    from pathlib import Path

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), size)


def render_lines(lines: list[str], size: int = 20, width: int = 1024) -> Image.Image:
    """A white "L" page with each string on its own line (the renderer's look, without it)."""
    font = dejavu_font(size)
    pitch = int(size * 1.5)
    page = Image.new("L", (width, 40 + pitch * len(lines) + 40), 255)
    draw = ImageDraw.Draw(page)
    for index, text in enumerate(lines):
        draw.text((48, 40 + pitch * index), text, font=font, fill=0)
    return page


@pytest.fixture(name="render_lines")
def render_lines_fixture():
    return render_lines


@pytest.fixture
def lora():
    from deepsynth.lora import LoraSettings

    return LoraSettings(rank=4, alpha=8, dropout=0.0)


@pytest.fixture
def tiny_pages():
    return [
        [render_lines(["A cat sat on the mat.", "It was warm."], size=14, width=320)],
        [render_lines(["Rivers flow to the sea."], size=14, width=320)],
    ]
