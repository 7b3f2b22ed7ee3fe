"""The document-reading model: a frozen page reader + a LoRA-adapted decoder.

Light on import (no torch): the heavy parts load inside the functions below.
"""

from __future__ import annotations

from typing import Any

from deepsynth.models.config import ModelConfig

__all__ = ["ModelConfig", "build_document_model", "read_dataset", "PageReading", "DocumentModel"]


def build_document_model(model_config: ModelConfig, lora: Any, device: str = "cpu"):
    """See `deepsynth.models.build.build_document_model`."""
    from deepsynth.models.build import build_document_model as build

    return build(model_config, lora, device)


def read_dataset(model_or_reader: Any, dataset_split: Any, cache_dir: Any = None, **kwargs: Any):
    """See `deepsynth.models.reading.read_dataset`."""
    from deepsynth.models.reading import read_dataset as read

    return read(model_or_reader, dataset_split, cache_dir, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "PageReading":
        from deepsynth.models.builtin.page_reader import PageReading

        return PageReading
    if name == "DocumentModel":
        from deepsynth.models.builtin.document_model import DocumentModel

        return DocumentModel
    raise AttributeError(name)
