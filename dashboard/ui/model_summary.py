"""One line about the model a page's picker names (a folder or a hub id in the Hugging Face cache),
once its config is read: its family, and for a native vision-language model the vision tokens one
rendered page becomes (`deepsynth.estimate.vision_tokens_per_page`, from its processor config)."""

from __future__ import annotations

from typing import Any, Mapping

from deepsynth.errors import DeepSynthError


def page_size(dataset_metadata: Mapping[str, Any]) -> tuple[int, int]:
    """The page size a dataset was rendered at (its `deepsynth_dataset.json`); the default render's
    when it does not say."""
    from deepsynth.configuration import from_dict
    from deepsynth.render.config import RenderConfig

    render = (dataset_metadata.get("dataset_config") or {}).get("render")
    try:
        return from_dict(RenderConfig, render).output_size if isinstance(render, dict) else RenderConfig().output_size
    except (DeepSynthError, TypeError, ValueError):
        return RenderConfig().output_size


def describe(model: str, page_width: int, page_height: int) -> str:
    """`**Qwen2.5-VL**, a native vision-language model: 64 vision tokens per 1024x1448 page`, or the
    family of a text model. Raises the library's error when the config cannot be read."""
    from deepsynth.estimate import load_architecture, vision_tokens_per_page
    from deepsynth.estimate.vlm import model_family

    architecture = load_architecture(model)
    family = model_family(architecture)
    if architecture.vlm is None:
        return f"**{family}**, a text model: the page reaches it as the OCR reader's text."
    tokens = vision_tokens_per_page(architecture, page_width, page_height)
    return (f"**{family}**, a native vision-language model: {tokens} vision tokens per {page_width}x{page_height} "
            "page (from its processor config).")
