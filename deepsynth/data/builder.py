"""`build_dataset`: records -> rendered pages (or page files -> rasterized pages, see
`page_builder`) -> a `DatasetDict` on disk, all or nothing.

Rows are streamed into one Arrow file per split as the pool renders them (memory stays bounded by
a batch, not the corpus), then saved with `save_to_disk` into a staging folder beside the
destination and renamed into place only when complete. Any error (or Ctrl-C) removes the staging
folder, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import deepsynth
from deepsynth.configuration import to_dict
from deepsynth.data.config import DatasetConfig
from deepsynth.data.pool import RenderedPages, RenderPool
from deepsynth.data.records import Collected, Record, collect_records
from deepsynth.data.storage import METADATA_FILE, SPLITS, features
from deepsynth.errors import InputError
from deepsynth.render import augmented_text

Progress = Callable[[int, int], None]
LISTED = 10
"""How many ids or characters a warning lists before summarising the rest."""


def split_sizes(n: int, validation_fraction: float, test_fraction: float) -> dict[str, int]:
    """Documents per split: rounded shares, at least one in a requested split when n >= 3, train >= 1."""
    sizes = {"validation": round(n * validation_fraction), "test": round(n * test_fraction)}
    if n >= 3:
        for name, fraction in (("validation", validation_fraction), ("test", test_fraction)):
            if fraction > 0:
                sizes[name] = max(1, sizes[name])
    while sizes["validation"] + sizes["test"] >= n and (sizes["validation"] or sizes["test"]):
        larger = max(sizes, key=lambda k: sizes[k])
        sizes[larger] -= 1
    return {"train": n - sizes["validation"] - sizes["test"], **sizes}


def assign_splits(n: int, config: DatasetConfig) -> list[str]:
    """The split of each document, from a shuffle seeded by `config.seed`."""
    sizes = split_sizes(n, config.validation_fraction, config.test_fraction)
    order = list(range(n))
    random.Random(config.seed).shuffle(order)
    split_of = ["train"] * n
    for index in order[:sizes["test"]]:
        split_of[index] = "test"
    for index in order[sizes["test"]:sizes["test"] + sizes["validation"]]:
        split_of[index] = "validation"
    return split_of


def build_dataset(config: DatasetConfig, out_dir: str | os.PathLike[str], progress: Progress | None = None,
                  *, overwrite: bool = False, pool: RenderPool | None = None) -> Path:
    """Read, render and save the dataset `config` describes at `out_dir`; returns `out_dir`.

    `progress(done, total)` is called after each rendered document. `overwrite` replaces an
    existing DeepSynth dataset folder (never any other folder). `pool` lets a caller (the
    dashboard) keep worker processes alive across builds.
    """
    from deepsynth.data.page_examples import collect_page_examples, page_source_kind

    out_dir = Path(out_dir).expanduser().absolute()
    _check_destination(out_dir, overwrite)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    pages_source = page_source_kind(config) is not None
    if pages_source:
        page_set = collect_page_examples(config)
    else:
        collected = collect_records(config)
    timings["read_s"] = time.perf_counter() - start

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-{os.getpid()}-", dir=out_dir.parent))
    own_pool = pool is None and not pages_source
    try:
        start = time.perf_counter()
        if pages_source:
            from deepsynth.data.page_builder import page_counts_and_warnings, split_by_document, write_page_splits

            report = write_page_splits(page_set, split_by_document(page_set, config), config,
                                       staging / "arrow", progress)
            counts, warnings = page_counts_and_warnings(page_set, report)
            columns = page_set.columns
        else:
            pool = pool or RenderPool(config.workers)
            split_of = assign_splits(len(collected.records), config)
            render_report = _render_to_arrow(collected.records, split_of, config, pool, staging / "arrow", progress)
            counts, warnings = _render_counts_and_warnings(config, collected, split_of, render_report)
            columns = collected.columns
        timings["render_s"] = time.perf_counter() - start
        start = time.perf_counter()
        final = staging / "dataset"
        _save(staging / "arrow", final)
        timings["save_s"] = time.perf_counter() - start
        metadata = _metadata(config, columns, counts, warnings, timings)
        (final / METADATA_FILE).write_text(json.dumps(metadata, indent=2, ensure_ascii=False), encoding="utf-8")
        _publish(final, out_dir)
    finally:
        if own_pool and pool is not None:
            pool.close()
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def remove_abandoned_staging(out_dir: Path) -> list[Path]:
    """Delete staging folders that builds of `out_dir` left behind when they were killed (kill -9
    skips the cleanup): their name carries the builder's pid, and that process is gone."""
    import psutil

    removed = []
    for leftover in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        pid = leftover.name[len(f".{out_dir.name}.partial-"):].split("-", 1)[0]
        if leftover.is_dir() and (not pid.isdigit() or not psutil.pid_exists(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


class DestinationTaken(InputError):
    """The output folder holds files and replacing it was not asked for; `out_dir` says which, so
    that each client names its own controls (the CLI: --out / --overwrite)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        super().__init__(f"{out_dir}: already exists and is not empty; choose another --out or pass --overwrite")


def _check_destination(out_dir: Path, overwrite: bool) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    if not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise DestinationTaken(out_dir)
    if not (out_dir / METADATA_FILE).is_file():
        raise InputError(f"{out_dir}: not a DeepSynth dataset (no {METADATA_FILE}); refusing to overwrite it")


class _RenderReport:
    def __init__(self) -> None:
        self.pages = 0
        self.truncated: list[str] = []
        self.missing: dict[str, int] = {}
        self.missing_docs: list[str] = []
        self.warnings: dict[str, list[str]] = {}

    def add(self, record: Record, rendered: RenderedPages) -> None:
        self.pages += len(rendered.pages)
        if rendered.truncated:
            self.truncated.append(record.id)
        if rendered.missing_glyphs:
            self.missing_docs.append(record.id)
            for char in rendered.missing_glyphs:
                self.missing[char] = self.missing.get(char, 0) + 1
        for warning in rendered.warnings:
            if warning.startswith("truncated:") or "have no glyph" in warning:
                continue  # summarised across documents from `truncated` and `missing_glyphs`
            self.warnings.setdefault(warning, []).append(record.id)


def _render_to_arrow(records: list[Record], split_of: list[str], config: DatasetConfig, pool: RenderPool,
                     folder: Path, progress: Progress | None) -> _RenderReport:
    from datasets.arrow_writer import ArrowWriter

    folder.mkdir()
    schema = features()
    writers = {split: ArrowWriter(features=schema, path=str(folder / f"{split}.arrow")) for split in SPLITS}
    report = _RenderReport()
    instruction = config.instruction
    try:
        rendered_all = pool.render([r.text for r in records], config.render, instruction or None)
        for done, (record, split, rendered) in enumerate(zip(records, split_of, rendered_all), start=1):
            if not rendered.pages:
                raise InputError(f"document {record.id!r}: the renderer produced no page")
            report.add(record, rendered)
            pages = [{"bytes": png, "path": None} for png in rendered.pages]
            row = {
                "id": record.id, "text": record.text, "summary": record.summary,
                "instruction": instruction, "augmented_text": augmented_text(record.text, instruction),
                "image": pages[0], "pages": pages, "num_pages": len(pages), "truncated": rendered.truncated,
                "prompt": record.prompt, "page_texts": [], "page_sources": [],
            }
            writers[split].write(schema.encode_example(row))
            if progress is not None:
                progress(done, len(records))
    finally:
        for writer in writers.values():
            writer.finalize()
            writer.close()
    return report


def _save(arrow_folder: Path, final: Path) -> None:
    from datasets import Dataset, DatasetDict
    import datasets

    splits = DatasetDict({split: Dataset.from_file(str(arrow_folder / f"{split}.arrow")) for split in SPLITS})
    # An empty split saved with the default sharding gets zero shards and cannot be loaded back.
    num_shards = {split: 1 for split, data in splits.items() if len(data) == 0}
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # our own bar covers the build; "Saving..." bars are noise
    try:
        splits.save_to_disk(str(final), num_shards=num_shards)
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()
    del splits  # release the memory maps before the arrow folder is deleted


def _publish(final: Path, out_dir: Path) -> None:
    """Move the finished folder into place; an existing dataset is swapped out, then deleted."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(out_dir, old)
    try:
        os.replace(final, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def listed(items: list[str]) -> str:
    """The first `LISTED` items, comma-separated, then how many more."""
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _render_counts_and_warnings(config: DatasetConfig, collected: Collected, split_of: list[str],
                                report: _RenderReport) -> tuple[dict[str, int], list[str]]:
    counts = dict(collected.counts)
    counts.update({split: split_of.count(split) for split in SPLITS})
    counts.update(pages=report.pages, truncated_documents=len(report.truncated),
                  documents_with_missing_glyphs=len(report.missing_docs))
    warnings = list(collected.warnings)
    if report.truncated:
        warnings.append(f"{len(report.truncated)} document(s) filled the {config.render.max_pages}-page cap "
                        f"(render.max_pages) and were cut: {listed(report.truncated)}")
    if report.missing:
        chars = sorted(report.missing, key=lambda c: -report.missing[c])
        hint = "" if config.render.fallback else "; fallback fonts are off (render.fallback)"
        warnings.append(f"{len(report.missing_docs)} document(s) have characters no font covers, drawn as "
                        f"boxes ({listed([repr(c) for c in chars])}{hint}): {listed(report.missing_docs)}")
    warnings.extend(f"{message} ({len(ids)} document(s): {listed(ids)})" for message, ids in report.warnings.items())
    return counts, warnings


def _metadata(config: DatasetConfig, columns: dict[str, str | None], counts: dict[str, int],
              warnings: list[str], timings: dict[str, float]) -> dict:
    return {
        "dataset_config": to_dict(config),
        "task": config.task,
        "columns": columns,
        "counts": counts,
        "warnings": warnings,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "deepsynth_version": deepsynth.__version__,
        "timings": {name: round(value, 3) for name, value in timings.items()},
    }
