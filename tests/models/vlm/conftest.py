"""Tiny VLM folders (deepsynth.models.vlm.tiny), built once per session, and small pages."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

@pytest.fixture(scope="session")
def vlm_folder(tmp_path_factory):
    """family -> the folder of its tiny VLM (built on first use)."""
    from deepsynth.models.vlm.tiny import build_tiny_vlm

    built = {}

    def folder(family: str):
        if family not in built:
            built[family] = build_tiny_vlm(family, tmp_path_factory.mktemp(f"vlm-{family}") / family)
        return built[family]

    return folder


def page(text: str, width: int = 200, height: int = 260) -> Image.Image:
    image = Image.new("L", (width, height), 255)
    ImageDraw.Draw(image).text((10, 10), text, fill=0)
    return image


@pytest.fixture(name="make_page")
def make_page_fixture():
    return page


ONE_PAGE_FAMILIES = ("florence2",)
"""Families whose processor places one image per prompt itself (their documents have one page)."""


def documents_for(family: str) -> list[list[Image.Image]]:
    """Two documents: one page, and two pages (one small square page, as render mode tiny draws);
    for a one-page family, two one-page documents (the second a small square page)."""
    if family in ONE_PAGE_FAMILIES:
        return [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.", 96, 96)]]
    return [[page("A cat sat on the mat.")], [page("Rivers flow"), page("to the sea.", 96, 96)]]


@pytest.fixture
def vlm_documents():
    return documents_for("deepseek_ocr2")


@pytest.fixture(name="documents_for")
def documents_for_fixture():
    """family -> its two test documents (`documents_for`)."""
    return documents_for


@pytest.fixture
def vlm_lora():
    from deepsynth.lora import LoraSettings

    return LoraSettings(rank=4, alpha=8, dropout=0.0)
