"""Page examples -> Arrow rows, one example at a time (memory bounded by a small write batch).

Each example's pages are rasterized (PDF) or decoded (images), encoded as PNG and written with
their text layer and provenance (file, page number, DPI); the pixels are dropped before the next
example. Splits are assigned per source document (`PageSet.groups`), so the several questions a
manifest asks about one file all land in one split.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from deepsynth.data.builder import assign_splits, listed
from deepsynth.data.config import DatasetConfig
from deepsynth.data.page_examples import PageSet
from deepsynth.data.page_files import Page, PageFile
from deepsynth.data.storage import SPLITS, features
from deepsynth.errors import InputError
from deepsynth.render import encode_png

WRITER_BATCH = 8
"""Rows the Arrow writer holds before flushing: a few pages' PNGs, not the corpus."""
OPEN_FILES = 4
"""Page files kept open between examples (manifest rows about one file usually follow each other)."""


@dataclass
class PageReport:
    """What writing found: pages, blank pages, examples dropped, rows per split."""

    pages: int = 0
    blank: list[str] = field(default_factory=list)
    """`id page N` of each blank page (kept)."""
    no_text_layer: list[str] = field(default_factory=list)
    """Ids of transcribe examples dropped: no target and no text layer on a page with ink."""
    per_split: dict[str, int] = field(default_factory=lambda: {split: 0 for split in SPLITS})


def split_by_document(page_set: PageSet, config: DatasetConfig) -> list[str]:
    """The split of each example: documents (groups of examples sharing a file) are shuffled into
    splits with `assign_splits`, then every example takes its document's split."""
    groups = page_set.groups()
    order = list(dict.fromkeys(groups))
    split_of_group = dict(zip(order, assign_splits(len(order), config)))
    return [split_of_group[group] for group in groups]


class OpenPageFiles:
    """A few `PageFile`s kept open, least recently used closed first."""

    def __init__(self, page_set: PageSet, config: DatasetConfig) -> None:
        self.page_set, self.config = page_set, config
        self.open: OrderedDict[str, PageFile] = OrderedDict()

    def page(self, key: str, index: int) -> Page:
        if key not in self.open:
            if len(self.open) >= OPEN_FILES:
                self.open.popitem(last=False)[1].close()
            source = self.page_set.files[key]
            path, data = (source, None) if isinstance(source, Path) else (None, source.read())
            self.open[key] = PageFile(path, key, self.config.max_input_bytes, self.config.dpi,
                                      self.config.max_page_pixels, self.config.page_color, data=data)
        self.open.move_to_end(key)
        return self.open[key].page(index)

    def close(self) -> None:
        while self.open:
            self.open.popitem()[1].close()


def write_page_splits(page_set: PageSet, split_of: list[str], config: DatasetConfig, folder: Path,
                      progress: Callable[[int, int], None] | None = None) -> PageReport:
    """Rasterize every example into `<folder>/<split>.arrow`."""
    from datasets.arrow_writer import ArrowWriter

    folder.mkdir()
    schema = features()
    writers = {split: ArrowWriter(features=schema, path=str(folder / f"{split}.arrow"),
                                  writer_batch_size=WRITER_BATCH) for split in SPLITS}
    report = PageReport()
    files = OpenPageFiles(page_set, config)
    total = len(page_set.examples)
    try:
        for done, (example, split) in enumerate(zip(page_set.examples, split_of), start=1):
            pages = [files.page(key, index) for key, index in example.pages]
            texts = [page.text for page in pages]
            text = "\n\n".join(t for t in texts if t)
            blank = [page.blank for page in pages]
            target = example.target if example.target is not None else text
            if not target and not all(blank):
                report.no_text_layer.append(example.id)  # a scan with no text layer: nothing to learn
            else:
                report.blank.extend(f"{example.id} page {i + 1}" for i, b in enumerate(blank) if b)
                report.pages += len(pages)
                report.per_split[split] += 1
                encoded = [{"bytes": encode_png(page.image), "path": None} for page in pages]
                row = {
                    "id": example.id, "text": text, "summary": target, "instruction": "",
                    "augmented_text": text, "image": encoded[0], "pages": encoded, "num_pages": len(encoded),
                    "truncated": False, "prompt": example.prompt, "page_texts": texts,
                    "page_sources": [{"file": key, "page": page.number, "dpi": page.dpi}
                                     for (key, _), page in zip(example.pages, pages)],
                }
                writers[split].write(schema.encode_example(row))
            del pages
            if progress is not None:
                progress(done, total)
    finally:
        files.close()
        for writer in writers.values():
            writer.finalize()
            writer.close()
    if not sum(report.per_split.values()):
        raise InputError(f"{page_set.name}: no usable examples: all {total} have no target and no text layer "
                         f"(scanned pages?); give targets in a manifest ({listed(report.no_text_layer)})")
    return report


def page_counts_and_warnings(page_set: PageSet, report: PageReport) -> tuple[dict[str, int], list[str]]:
    counts = dict(page_set.counts)
    counts.update(kept=sum(report.per_split.values()), pages=report.pages, blank_pages=len(report.blank),
                  dropped_no_text_layer=len(report.no_text_layer), truncated_documents=0)
    counts.update(report.per_split)
    warnings = list(page_set.warnings)
    if report.blank:
        warnings.append(f"{len(report.blank)} blank page(s) (no ink) kept: {listed(report.blank)}")
    if report.no_text_layer:
        warnings.append(f"{len(report.no_text_layer)} example(s) dropped: no target and no text layer to "
                        f"transcribe (scanned pages?): {listed(report.no_text_layer)}")
    return counts, warnings

