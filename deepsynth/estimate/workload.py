"""What one training run asks of the hardware: batch, tokens, precision, optimizer, data size."""

from __future__ import annotations

from dataclasses import dataclass

from deepsynth.configuration import Problems, choice
from deepsynth.models.config import ModelConfig
from deepsynth.render.config import RenderConfig
from deepsynth.settings import setting
from deepsynth.settings.defaults import BATCH_SIZE, PROMPT_TOKENS

DTYPES = {"float32": 4, "bfloat16": 2, "float16": 2}
OPTIMIZERS = ("adamw", "adamw8bit")
DEVICES = ("cuda", "cpu")
ATTENTIONS = ("sdpa", "eager")


@dataclass(frozen=True)
class Workload:
    """One training configuration, as the estimator needs it. Its defaults are a training run's
    (`TrainConfig`, `ModelConfig`: `deepsynth.settings.defaults`), so an estimate of the defaults
    is an estimate of the run `deepsynth train` starts with the defaults."""

    batch_size: int = setting(BATCH_SIZE, order=2)
    """Samples per optimizer step."""
    seq_len: int = setting(PROMPT_TOKENS + ModelConfig.max_source_tokens + ModelConfig.max_target_tokens, order=5)
    """Text tokens per sample fed to the decoder (OCR text or prompt + instruction + summary); for an
    encoder-decoder VLM (Florence-2) the prompt goes to the encoder and the summary to the decoder."""
    image_tokens: int = setting(0, order=6)
    """Vision tokens per sample placed in front of the text (the `features` interface, DeepSeek-OCR);
    for a native VLM, 0 means `pages` x the model's tokens for a page of `page_width` x `page_height`."""
    target_tokens: int = ModelConfig.max_target_tokens
    """Summary tokens per sample: DeepSynth applies the LM head and the loss to these positions only."""
    gradient_checkpointing: bool = setting(False, order=9)
    """Recompute each decoder layer in backward instead of keeping its activations."""
    optimizer: str = choice("adamw", OPTIMIZERS, order=8)
    """adamw (torch AdamW, fp32 moments) or adamw8bit (bitsandbytes 8-bit AdamW)."""
    dtype: str = choice("bfloat16", DTYPES, order=7)
    """Precision of activations and of weights that are not quantized: float32 (CPU), bfloat16, float16."""
    device: str = choice("cuda", DEVICES, order=1)
    """cuda or cpu: decides the dropout mask size and the framework overhead."""
    attention: str = choice("sdpa", ATTENTIONS, advanced=True)
    """Attention implementation: sdpa (flash / memory-efficient kernels) or eager (materialised scores)."""
    padded: bool = setting(False, advanced=True)
    """Batches carry an attention mask (padding): SDPA then keeps the mask and repeated k/v heads."""
    text_encoder: str = "none"
    """Instruction encoder: none, minilm, qwen3-embedding-8b, or a config path."""
    train_text_encoder: bool = False
    """Whether the text encoder's own weights train (its projection always trains)."""
    instruction_tokens: int = setting(32, advanced=True)
    """Tokens the text encoder reads per sample."""
    num_documents: int = setting(1000, order=3)
    """Training documents, for the time and cost prediction."""
    epochs: int = setting(1, order=4)
    """Passes over the documents."""
    vision_cached: bool = False
    """Native VLMs: the tower's features were computed once and are read from a cache, so the tower
    does not run in the step (nor its working set); the projector still runs if it trains."""
    pages: int = 1
    """Native VLMs: page images per sample."""
    page_width: int = setting(RenderConfig.page_width, advanced=True)
    """Native VLMs: page width in pixels as rendered (after the render mode), before the processor."""
    page_height: int = setting(RenderConfig.page_height, advanced=True)
    """Native VLMs: page height in pixels as rendered."""
    vision_images: tuple[tuple[int, int], ...] = setting((), sources=())
    """Native VLMs: (height, width) of every image the tower runs on per sample, when known from a
    batch (tiles, crops, views); empty: derived from the page size and the model's image processor.
    Measured, never typed: no flag, file or form sets it."""
    own_forward: bool | None = setting(None, sources=())
    """Native VLMs outside the family table: whether the live run trains through the model's own
    forward (`models/vlm/own_forward.py`), read from its batch; None: decided from the model's
    structure (`estimate/vlm/model_step.uses_own_forward`). Measured, never typed."""
    own_rows: tuple[tuple[int, int], ...] = setting((), sources=())
    """Native VLMs on the own-forward path: (real tokens, image tokens) of every row of the live batch
    (the own forward runs each row on its real tokens, one row per call); empty: every row alike
    (`seq_len` + `image_tokens`). Measured, never typed."""

    def __post_init__(self) -> None:
        problems = Problems("workload")
        for name in ("batch_size", "seq_len", "target_tokens", "epochs", "num_documents", "instruction_tokens"):
            value = getattr(self, name)
            problems.check(isinstance(value, int) and value >= 1, name, f"must be an integer >= 1, got {value!r}")
        problems.check(isinstance(self.image_tokens, int) and self.image_tokens >= 0, "image_tokens",
                       f"must be an integer >= 0, got {self.image_tokens!r}")
        problems.check(self.target_tokens <= self.seq_len, "target_tokens",
                       f"{self.target_tokens} target tokens do not fit in seq_len {self.seq_len}")
        problems.check(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        problems.check(self.dtype in DTYPES, "dtype", f"must be one of {', '.join(DTYPES)}")
        problems.check(self.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}")
        problems.check(self.attention in ATTENTIONS, "attention", f"must be one of {', '.join(ATTENTIONS)}")
        problems.check(isinstance(self.pages, int) and self.pages >= 0, "pages", f"must be an integer >= 0, got {self.pages!r}")
        for name in ("page_width", "page_height"):
            value = getattr(self, name)
            problems.check(isinstance(value, int) and value >= 1, name, f"must be an integer >= 1, got {value!r}")
        problems.check(all(len(size) == 2 and min(size) >= 1 for size in self.vision_images), "vision_images",
                       "must be (height, width) pairs of positive pixel counts")
        problems.check(not (self.train_text_encoder and self.text_encoder == "none"), "train_text_encoder",
                       "needs a text encoder (text_encoder is none)")
        problems.raise_if_any()

    @property
    def dtype_bytes(self) -> int:
        return DTYPES[self.dtype]

    @property
    def decoder_tokens(self) -> int:
        return self.seq_len + self.image_tokens


def checkpoints_activations(device: str) -> bool:
    """Whether a training run on `device` checkpoints the decoder's activations: on CPU
    (`training.activations` turns it on; the CPU time plan and the queue's memory check count it)."""
    return device == "cpu"
