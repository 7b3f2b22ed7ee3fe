"""Native vision-language models in the estimator: DeepSeek-OCR-2, Qwen2-VL, Qwen2.5-VL, SmolVLM,
Idefics3 and Florence-2, read from a model folder (config.json + the processor's JSON files).

    from deepsynth.estimate import load_architecture, vision_tokens_per_page, model_family
    arch = load_architecture("path/to/Qwen2-VL-2B-Instruct")
    model_family(arch)                        # "Qwen2-VL"
    vision_tokens_per_page(arch, 1024, 1448)  # image tokens one rendered page becomes
"""

from __future__ import annotations

from pathlib import Path

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.vlm.processing import PageLayout, page_layout
from deepsynth.estimate.vlm.spec import VLM_FAMILIES

__all__ = ["VLM_FAMILIES", "PageLayout", "model_family", "page_layout_for", "vision_tokens_per_page"]


def _architecture(model: Architecture | str | Path) -> Architecture:
    if isinstance(model, Architecture):
        return model
    from deepsynth.estimate.builtin import load_architecture

    return load_architecture(str(model))


def page_layout_for(model: Architecture | str | Path, page_width: int, page_height: int) -> PageLayout:
    """What one page of `page_width` x `page_height` pixels becomes for this model: the language
    model's image tokens and the images its tower runs on. `model`: an Architecture, a model folder,
    a config.json, or a built-in name."""
    arch = _architecture(model)
    if arch.vlm is not None:
        return page_layout(arch.vlm.processing, page_width, page_height)
    if arch.structure is not None:  # counted by the folder's processor (the tower's images are not listed)
        from deepsynth.estimate.vlm.structural_estimate import vision_tokens

        return PageLayout(vision_tokens(arch, page_width, page_height), ())
    if arch.vision is not None:  # built-in readers with a fixed page budget (DeepSeek-OCR base mode: 256)
        return PageLayout(arch.vision.tokens_per_page, ())
    return PageLayout(0, ())


def vision_tokens_per_page(model: Architecture | str | Path, page_width: int, page_height: int) -> int:
    """Image tokens one page of `page_width` x `page_height` pixels puts in the language model's
    sequence (0 for a text-only model)."""
    return page_layout_for(model, page_width, page_height).tokens


def model_family(model: Architecture | str | Path) -> str:
    """The family name to display: "Qwen2-VL", "SmolVLM", ... for native VLMs, else the decoder's
    block type (llama, qwen2, ...) or the built-in name."""
    arch = _architecture(model)
    if arch.vlm is not None:
        return arch.vlm.family
    if arch.structure is not None:
        return arch.structure.family
    if arch.vision is not None:
        return arch.name
    return arch.decoder.family
