"""Fixtures for dataset tests: small pages, in-process rendering, input files written on demand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepsynth.data import DatasetConfig
from deepsynth.render import RenderConfig

# Small pages keep rendering cheap: ~20 words a line, a dozen lines a page.
SMALL_RENDER = RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=2)


@pytest.fixture
def make_config():
    """make_config(source, **fields) -> DatasetConfig with small pages, rendered in this process."""

    def make(source: str | Path, **overrides) -> DatasetConfig:
        overrides.setdefault("render", SMALL_RENDER)
        overrides.setdefault("workers", 1)
        return DatasetConfig(source=str(source), **overrides)

    return make


@pytest.fixture
def write_file(tmp_path):
    """write_file(name, content) -> Path; str content is written as UTF-8, bytes as-is."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    return write


@pytest.fixture
def docs_jsonl(write_file):
    """Six short documents as JSON lines with text/summary/id."""
    rows = [{"id": f"d{i}", "text": f"Document number {i} talks about topic {i}.", "summary": f"Topic {i}."}
            for i in range(6)]
    return write_file("docs.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """Keep `datasets`' cache of locally loaded folders inside the test's temp dir."""
    import datasets

    cache = tmp_path / "hf_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


@pytest.fixture
def small_render() -> RenderConfig:
    return SMALL_RENDER
