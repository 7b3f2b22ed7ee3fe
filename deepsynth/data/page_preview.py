"""A look at the first examples of a page source before building: thumbnails, provenance, text
layer, target and prompt (for the Dataset page; the same checks as a build, nothing written)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from deepsynth.data.config import DatasetConfig

THUMBNAIL = 256
"""Longest side of a preview thumbnail, in pixels."""


@dataclass(frozen=True)
class PreviewPage:
    thumbnail: Image.Image
    file: str
    page: int
    """1-based page number in its file."""
    dpi: int
    text: str
    """The page's text layer ("" when it has none)."""
    blank: bool


@dataclass(frozen=True)
class PreviewExample:
    id: str
    prompt: str
    target: str
    """The reference answer (for transcribe without a target: the text layer)."""
    pages: tuple[PreviewPage, ...]


@dataclass(frozen=True)
class PageSourcePreview:
    """The first examples of a page source, and what a build of it would keep."""

    examples: list[PreviewExample]
    total: int
    """Examples a build keeps (before examples with no target and no text layer are dropped)."""
    documents: int
    """Source documents: the units split apart (examples sharing a file stay in one split)."""
    splits: dict[str, int]
    """Examples per split, as `build_dataset` assigns them."""
    columns: dict[str, str | None]
    """Where each field comes from (`target`: a manifest column, `text layer`, `assistant turns`)."""
    warnings: list[str]


def preview_page_source(config: DatasetConfig, n: int = 8) -> PageSourcePreview:
    """The first `n` examples of a page source, rasterized at `config.dpi` and shrunk to thumbnails,
    with the example count and the split a build would make."""
    from collections import Counter

    from deepsynth.data.page_builder import OpenPageFiles, split_by_document
    from deepsynth.data.page_examples import collect_page_examples
    from deepsynth.data.storage import SPLITS

    page_set = collect_page_examples(config)
    files = OpenPageFiles(page_set, config)
    previews = []
    try:
        for example in page_set.examples[:n]:
            pages = []
            for key, index in example.pages:
                page = files.page(key, index)
                thumbnail = page.image.copy()
                thumbnail.thumbnail((THUMBNAIL, THUMBNAIL))
                pages.append(PreviewPage(thumbnail, key, page.number, page.dpi, page.text, page.blank))
            target = example.target if example.target is not None else "\n\n".join(p.text for p in pages if p.text)
            previews.append(PreviewExample(example.id, example.prompt, target, tuple(pages)))
    finally:
        files.close()
    per_split = Counter(split_by_document(page_set, config))
    return PageSourcePreview(previews, len(page_set.examples), len(set(page_set.groups())),
                             {split: per_split.get(split, 0) for split in SPLITS}, dict(page_set.columns),
                             list(page_set.warnings))


def preview_page_examples(config: DatasetConfig, n: int = 8) -> list[PreviewExample]:
    """The first `n` examples of a page source, rasterized at `config.dpi` and shrunk to thumbnails."""
    return preview_page_source(config, n).examples
