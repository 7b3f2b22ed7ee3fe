"""Corpora -> page-image datasets: read a source, map columns, filter, render (or rasterize page
files: PDFs, images, manifests, LLaVA JSON, image tables), save.

Light to import (no `datasets`, no torch): heavy libraries load inside the functions that use them.
"""

from deepsynth.data.builder import assign_splits, build_dataset, split_sizes
from deepsynth.data.config import DatasetConfig
from deepsynth.data.files import (DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_UPLOAD_BYTES, save_upload,
                                  validate_upload)
from deepsynth.data.pool import RenderPool
from deepsynth.data.records import Collected, Record, collect_records, preview_records, read_records
from deepsynth.data.storage import (COLUMNS, METADATA_FILE, SPLITS, LoadedDataset, column_or_default,
                                    load_dataset_dir, read_metadata)
from deepsynth.data.tasks import DEFAULT_PROMPTS, TASKS

__all__ = [
    "COLUMNS", "Collected", "DEFAULT_MAX_INPUT_BYTES", "DEFAULT_PROMPTS", "TASKS", "column_or_default", "DEFAULT_MAX_UPLOAD_BYTES", "DatasetConfig",
    "LoadedDataset", "METADATA_FILE", "Record", "RenderPool", "SPLITS", "assign_splits", "build_dataset",
    "collect_records", "load_dataset_dir", "preview_records", "read_metadata", "read_records",
    "save_upload", "split_sizes", "validate_upload",
]
