"""How many of a dataset's training pages go through the line detector before training.

Pages DeepSynth rendered itself carry the render mark (`deepsynth.render.mark`) and are cut by
their own layout; pages built from files (PDFs, images, manifests, LLaVA JSON, image tables) carry
none and are detected (CRAFT). The dataset's metadata says which kind it holds: the page builder
counts `blank_pages` and `kept` examples beside the `pages` it stored, the renderer does not.
"""

from __future__ import annotations

import math
from typing import Any, Mapping


def pages_through_detector(metadata: Mapping[str, Any], train_docs: int) -> int:
    """Training pages without the render mark in a dataset with this `deepsynth_dataset.json`
    (all of them for a dataset built from page files, none for a rendered one): `train_docs` x the
    dataset's pages per example."""
    counts = metadata.get("counts") or {}
    if "blank_pages" not in counts:  # rendered by DeepSynth: its untouched pages keep their layout
        return 0
    pages, examples = int(counts.get("pages") or 0), int(counts.get("kept") or 0)
    if pages <= 0 or train_docs <= 0:
        return 0
    return math.ceil(train_docs * pages / max(1, examples))


def dataset_pages_through_detector(dataset: str, train_docs: int) -> int:
    """`pages_through_detector` of the dataset folder `dataset` (0 when it has no readable metadata:
    the estimate then counts reading only)."""
    from deepsynth.data.storage import read_metadata
    from deepsynth.errors import DeepSynthError

    if not dataset:
        return 0
    try:
        return pages_through_detector(read_metadata(dataset), train_docs)
    except (DeepSynthError, OSError):
        return 0
