"""Read a whole dataset split with the frozen reader once, and cache the readings on disk.

The cache key is the dataset's fingerprint (plus its ids) and the reader's `identity()`; files are
`readings-<key>.json` (texts) and, for vision tokens, `readings-<key>.safetensors`, each written to
a temporary name and renamed, the JSON last (it marks the cache complete).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from deepsynth.atomic_files import replacing, write_bytes_atomic
from deepsynth.errors import InputError

CACHE_VERSION = 1


def _reader_of(model_or_reader: Any):
    return getattr(model_or_reader, "reader", model_or_reader)


def dataset_key(dataset_split: Any, reader: Any) -> str:
    """A stable key for (these documents, this reader)."""
    ids = dataset_split["id"] if "id" in dataset_split.column_names else []
    description = {
        "fingerprint": getattr(dataset_split, "_fingerprint", None),
        "rows": len(dataset_split),
        "ids": hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest(),
        "reader": reader.identity(),
        "cache_version": CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:24]



def _save(readings: Sequence[Any], stem: Path, key: str) -> None:
    import torch
    from safetensors.torch import save_file

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
              "texts": [r.text for r in readings]}
    write_bytes_atomic(stem.with_suffix(".json"), json.dumps(record).encode("utf-8"))


def _load(stem: Path) -> list[Any] | None:
    from deepsynth.models.page_reader import PageReading

    index = stem.with_suffix(".json")
    if not index.is_file():
        return None
    try:
        record = json.loads(index.read_text())
    except json.JSONDecodeError:
        return None  # an unreadable cache is rebuilt, never trusted
    texts = record["texts"]
    if not record.get("features"):
        return [PageReading(text=text) for text in texts]
    from safetensors.torch import load_file

    tensors = load_file(str(stem.with_suffix(".safetensors")))
    chunks = tensors["features"].float().split(tensors["lengths"].tolist())
    return [PageReading(text=text, features=chunk.clone()) for text, chunk in zip(texts, chunks)]


def read_dataset(model_or_reader: Any, dataset_split: Any, cache_dir: str | Path | None = None,
                 batch_documents: int = 16, progress: bool = True,
                 description: str = "reading pages") -> list[Any]:
    """`PageReading`s of every row of a `datasets.Dataset` split (column `pages`, else `image`),
    from the cache when this reader already read these documents."""
    from deepsynth.paths import cache_dir as default_cache_dir

    reader = _reader_of(model_or_reader)
    column = "pages" if "pages" in dataset_split.column_names else "image"
    if column not in dataset_split.column_names:
        raise InputError(f"dataset has neither a 'pages' nor an 'image' column: {dataset_split.column_names}")
    key = dataset_key(dataset_split, reader)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "readings"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"readings-{key}"
    cached = _load(stem)
    if cached is not None and len(cached) == len(dataset_split):
        return cached

    from tqdm.auto import tqdm

    images = dataset_split.select_columns([column])
    readings: list[Any] = []
    with tqdm(total=len(images), desc=description, unit="doc", disable=not progress) as bar:
        for start in range(0, len(images), batch_documents):
            documents = images[start:start + batch_documents][column]
            if column == "image":
                documents = [[page] for page in documents]
            readings.extend(reader.read_documents(documents))
            bar.update(len(documents))
    _save(readings, stem, key)
    return readings
