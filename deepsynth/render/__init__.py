"""Text to page images: pixel-width wrapping, per-character font fallback, pages, fast PNGs.

Public API (docs/ARCHITECTURE.md): `RenderConfig`, `render_document(text, config, instruction)
-> RenderedDocument`, `encode_png(image) -> bytes`, `augmented_text(text, instruction)`.
Names load on first use, so `from deepsynth.render import RenderConfig` (the CLI, the dataset
config) does not import Pillow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "MODES": "deepsynth.render.config",
    "RenderConfig": "deepsynth.render.config",
    "RenderedDocument": "deepsynth.render.page",
    "augmented_text": "deepsynth.render.page",
    "fit_to_square": "deepsynth.render.page",
    "render_document": "deepsynth.render.page",
    "encode_png": "deepsynth.render.png",
}
__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from deepsynth.render.config import MODES, RenderConfig
    from deepsynth.render.page import RenderedDocument, augmented_text, fit_to_square, render_document
    from deepsynth.render.png import encode_png


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'deepsynth.render' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
