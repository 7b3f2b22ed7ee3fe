"""Model folders a user brings, found and described before anything heavy loads (no torch).

`workspace/models/` (`paths.models_dir()`) holds one folder (or a link to one) per model with its
`config.json`; the dashboard offers them beside the built-in models. `describe_reading` says in
one line what a model reads from a rendered page: a native VLM's family and its vision tokens per
page for a render setting, computed from the folder's processor config (`deepsynth.estimate.vlm`; for a
family without a description, by running the folder's processor on a blank page).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepsynth import paths
from deepsynth.errors import DeepSynthError


def model_folders(root: Path | None = None) -> list[Path]:
    """Folders under `root` (default `workspace/models/`) that hold a `config.json`, sorted by name."""
    folder = root if root is not None else paths.models_dir()
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if (path / "config.json").is_file())


@dataclass(frozen=True)
class PageReading:
    """What a model reads from one rendered page."""

    family: str
    """Display name of the model family ("Qwen2.5-VL", "DeepSeek-OCR-2", ...; a decoder's block type)."""
    native_vlm: bool
    """The model reads pages with its own vision tower (else the embedded page reader feeds it text)."""
    tokens_per_page: int
    """Vision tokens one page of this size becomes (0 for a model that reads OCR text)."""
    page_size: tuple[int, int]
    """(width, height) of the page as rendered."""

    def describe(self) -> str:
        width, height = self.page_size
        if not self.native_vlm:
            return (f"{self.family}: reads the page as text (the embedded english_g2 reader's OCR, "
                    "tokenized) — vision tokens do not apply")
        return (f"{self.family} (native vision-language model): {self.tokens_per_page} vision tokens "
                f"per {width}x{height} page, computed from its processor config")


def describe_reading(model: str, render: object) -> PageReading:
    """`model`: a built-in name or a model folder; `render`: a `RenderConfig` (its `output_size`).
    Raises `DeepSynthError` for a folder the estimator cannot read."""
    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.vlm import model_family, vision_tokens_per_page

    architecture = load_architecture(model)
    width, height = render.output_size
    if not architecture.native_vlm:
        return PageReading(model_family(architecture), False, 0, (width, height))
    try:
        tokens = vision_tokens_per_page(architecture, width, height)
    except (KeyError, ValueError) as error:
        raise DeepSynthError(f"{model}: cannot tell the vision tokens of a {width}x{height} page ({error})") from None
    return PageReading(model_family(architecture), True, tokens, (width, height))
