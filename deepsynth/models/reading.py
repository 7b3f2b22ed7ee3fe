"""Read a whole dataset split with the frozen reader once, and cache the readings on disk.

Rows whose pages are identical (a manifest's several questions about one file) are read once.
The cache key is the dataset's fingerprint (plus its ids), the settings that drew its pages (render
settings), the reader's `identity()` (a VLM's: the content digest of its model folder,
`models.folder_digest`) and its line detector's (weights, canvas); files are
`readings-<key>.json` (texts) and, for vision tokens, `readings-<key>.safetensors`, each written to
a temporary name and renamed, the JSON last (it marks the cache complete).
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
import json
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from deepsynth.atomic_files import replacing, write_bytes_atomic
from deepsynth.errors import InputError

CACHE_VERSION = 1
_COUNTS = ("pages_without_lines", "unreadable_pages")
"""Per-reading page counts (`PageReading`) kept in the cache beside the texts."""

logger = logging.getLogger(__name__)


def unread_pages_report(readings: Sequence[Any]) -> dict[str, int]:
    """How many documents had unreadable pages and pages with no text line (and how many pages),
    for the dataset, the training log and the user: such pages are counted, never hidden."""
    report = {"documents": len(readings), "documents_unreadable": 0, "unreadable_pages": 0,
              "documents_without_lines": 0, "pages_without_lines": 0}
    for reading in readings:
        unreadable = getattr(reading, "unreadable_pages", 0)
        without = getattr(reading, "pages_without_lines", 0)
        report["documents_unreadable"] += unreadable > 0
        report["unreadable_pages"] += unreadable
        report["documents_without_lines"] += without > 0
        report["pages_without_lines"] += without
    return report


def _reader_of(model_or_reader: Any):
    return getattr(model_or_reader, "reader", model_or_reader)


def dataset_key(dataset_split: Any, reader: Any, settings: Mapping[str, Any] | None = None) -> str:
    """A stable key for (these documents, this reader, the settings that made the pages)."""
    ids = dataset_split["id"] if "id" in dataset_split.column_names else []
    description = {
        "fingerprint": getattr(dataset_split, "_fingerprint", None),
        "rows": len(dataset_split),
        "ids": hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest(),
        "reader": reader.identity(),
        "cache_version": CACHE_VERSION,
    }
    if settings:  # what drew the pages (render settings): a dataset rebuilt otherwise is read again
        description["page_settings"] = settings
    detector = getattr(reader, "line_detector", None)
    if detector is not None:  # lines of pages DeepSynth did not render: weights, canvas, thresholds
        description["line_detector"] = detector.identity()
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:24]



def _save_tensor_readings(readings: Sequence[Any], stem: Path, key: str) -> None:
    """Readings that are dicts of tensors (`to_tensors()`, e.g. `VlmReading`): per key, every
    reading's tensor flattened and concatenated, with its shape; dtypes kept (features computed
    in bf16 on a GPU stay bf16)."""
    import torch
    from safetensors.torch import save_file

    per_reading = [r.to_tensors() for r in readings]
    keys = sorted({k for tensors in per_reading for k in tensors})
    tensors = {}
    for name in keys:
        present = [t.get(name) for t in per_reading]
        rank = max(t.dim() for t in present if t is not None)
        shapes = torch.full((len(present), rank + 1), -1, dtype=torch.long)  # -1 row: absent
        for row, tensor in enumerate(present):
            if tensor is not None:
                shapes[row, 0] = 1
                shapes[row, 1:tensor.dim() + 1] = torch.tensor(tensor.shape, dtype=torch.long)
        tensors[f"{name}::shapes"] = shapes
        tensors[f"{name}::values"] = torch.cat([t.reshape(-1) for t in present if t is not None]).contiguous()
    with replacing(stem.with_suffix(".safetensors")) as temporary:
        save_file(tensors, str(temporary))
    record = {"key": key, "version": CACHE_VERSION, "features": True, "tensor_readings": type(readings[0]).__name__,
              "texts": [r.text for r in readings]}
    write_bytes_atomic(stem.with_suffix(".json"), json.dumps(record).encode("utf-8"))


def _load_tensor_readings(stem: Path, record: dict[str, Any]) -> list[Any]:
    from safetensors.torch import load_file

    from deepsynth.models.vlm.reader import VlmReading

    if record["tensor_readings"] != VlmReading.__name__:
        return None
    stored = load_file(str(stem.with_suffix(".safetensors")))
    count = len(record["texts"])
    per_reading: list[dict[str, Any]] = [{} for _ in range(count)]
    for name in {k.split("::")[0] for k in stored}:
        shapes, values = stored[f"{name}::shapes"].tolist(), stored[f"{name}::values"]
        offset = 0
        for row, shape in enumerate(shapes):
            if shape[0] != 1:
                continue
            dims = [d for d in shape[1:] if d >= 0]
            size = 1
            for d in dims:
                size *= d
            per_reading[row][name] = values[offset:offset + size].reshape(dims).clone()
            offset += size
    return [VlmReading.from_tensors(tensors) for tensors in per_reading]


def _save(readings: Sequence[Any], stem: Path, key: str) -> None:
    import torch
    from safetensors.torch import save_file

    if readings and hasattr(readings[0], "to_tensors"):
        _save_tensor_readings(readings, stem, key)
        return
    with_features = any(r.features is not None for r in readings)
    if with_features:
        parts = [r.features if r.features is not None else torch.zeros(0, 1) for r in readings]
        lengths = torch.tensor([len(p) for p in parts], dtype=torch.long)
        # float16 halves the cache; the projection sees float32 again after loading.
        tensors = {"features": torch.cat([p.to(torch.float16) for p in parts]).contiguous(),
                   "lengths": lengths}
        with replacing(stem.with_suffix(".safetensors")) as temporary:
            save_file(tensors, str(temporary))
    record = {"key": key, "version": CACHE_VERSION, "features": with_features,
              "texts": [r.text for r in readings],
              **{name: [getattr(r, name, 0) for r in readings] for name in _COUNTS}}
    write_bytes_atomic(stem.with_suffix(".json"), json.dumps(record).encode("utf-8"))


def _load(stem: Path) -> list[Any] | None:
    from deepsynth.models.builtin.page_reader import PageReading

    index = stem.with_suffix(".json")
    if not index.is_file():
        return None
    try:
        record = json.loads(index.read_text())
    except json.JSONDecodeError:
        return None  # an unreadable cache is rebuilt, never trusted
    texts = record["texts"]
    if record.get("tensor_readings"):
        return _load_tensor_readings(stem, record)
    counts = [{name: record.get(name, [0] * len(texts))[row] for name in _COUNTS} for row in range(len(texts))]
    if not record.get("features"):
        return [PageReading(text=text, **count) for text, count in zip(texts, counts)]
    from safetensors.torch import load_file

    tensors = load_file(str(stem.with_suffix(".safetensors")))
    chunks = tensors["features"].float().split(tensors["lengths"].tolist())
    return [PageReading(text=text, features=chunk.clone(), **count)
            for text, chunk, count in zip(texts, chunks, counts)]


def read_dataset(model_or_reader: Any, dataset_split: Any, cache_dir: str | Path | None = None,
                 batch_documents: int = 16, progress: bool = True,
                 description: str = "reading pages", settings: Mapping[str, Any] | None = None) -> list[Any]:
    """`PageReading`s of every row of a `datasets.Dataset` split (column `pages`, else `image`),
    from the cache when this reader already read these documents drawn with these `settings`
    (the dataset's render settings, part of the key)."""
    from deepsynth.paths import cache_dir as default_cache_dir

    reader = _reader_of(model_or_reader)
    column = "pages" if "pages" in dataset_split.column_names else "image"
    if column not in dataset_split.column_names:
        raise InputError(f"dataset has neither a 'pages' nor an 'image' column: {dataset_split.column_names}")
    key = dataset_key(dataset_split, reader, settings)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "readings"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"readings-{key}"
    cached = _load(stem)
    if cached is not None and len(cached) == len(dataset_split):
        return cached
    # Jobs started together on the same documents (a sweep's points, two jobs by hand) read them
    # once: the first holds the lock while it reads, the others wait and then load its cache.
    with _reading_lock(stem):
        cached = _load(stem)
        if cached is not None and len(cached) == len(dataset_split):
            return cached
        readings = _read_all(reader, dataset_split, column, batch_documents, progress, description)
        _save(readings, stem, key)
    report = unread_pages_report(readings)
    if report["unreadable_pages"] or report["pages_without_lines"]:
        logger.warning("the page reader recovered almost nothing from %d page(s) of %d document(s) and found "
                       "no text line on %d page(s) of %d document(s), of %d documents",
                       report["unreadable_pages"], report["documents_unreadable"], report["pages_without_lines"],
                       report["documents_without_lines"], report["documents"])
    return readings


@contextmanager
def _reading_lock(stem: Path) -> Iterator[None]:
    """An exclusive `flock` on `<stem>.lock` (released by the kernel if the process dies)."""
    import fcntl

    with open(stem.with_suffix(".lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_all(reader: Any, dataset_split: Any, column: str, batch_documents: int, progress: bool,
              description: str) -> list[Any]:
    from tqdm.auto import tqdm

    images = dataset_split.select_columns([column])
    readings: list[Any] = [None] * len(images)
    first_with: dict[str, int] = {}  # page content -> the first row that has it
    copies: list[tuple[int, int]] = []  # (row, the earlier row with the same pages)
    with tqdm(total=len(images), desc=description, unit="doc", disable=not progress) as bar:
        for start in range(0, len(images), batch_documents):
            documents = images[start:start + batch_documents][column]
            if column == "image":
                documents = [[page] for page in documents]
            unread, rows = [], []
            for row, pages in enumerate(documents, start=start):
                key = pages_key(pages)
                if key in first_with:
                    copies.append((row, first_with[key]))
                else:
                    first_with[key] = row
                    unread.append(pages)
                    rows.append(row)
            for row, reading in zip(rows, reader.read_documents(unread) if unread else []):
                readings[row] = reading
            bar.update(len(documents))
    for row, earlier in copies:
        readings[row] = readings[earlier]
    return readings


def pages_key(pages: Sequence[Any]) -> str:
    """A digest of a document's pixels: rows with the same pages (several questions about one
    document) are read once, since a reading is a function of the pixels alone."""
    digest = hashlib.sha256()
    for page in pages:
        digest.update(f"{page.mode}:{page.size[0]}x{page.size[1]}|".encode())
        digest.update(page.tobytes())
    return digest.hexdigest()
