"""Trainable maps into the decoder's embedding space: vision tokens and instruction encodings.

Widths are read from the models' configs (the original DeepSynth assumed 4096 everywhere).
`SoftCharacterProjection` starts as the reader's own CTC head: each vision token becomes a
probability mix of character embeddings taken from the decoder's vocabulary, so at step 0 the
decoder sees (blurred) characters rather than noise.
"""

from __future__ import annotations

import torch
from torch import nn

PROJECTION_INITS = ("soft_characters", "random")


class MlpProjection(nn.Module):
    """Linear -> GELU -> Linear (the LLaVA-1.5 projector shape): (.., in) -> (.., out)."""

    def __init__(self, in_width: int, out_width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_width, out_width), nn.GELU(), nn.Linear(out_width, out_width))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class SoftCharacterProjection(nn.Module):
    """softmax(CTC head(features)) @ character embeddings: (.., in) -> (.., out)."""

    def __init__(self, ctc_weight: torch.Tensor, ctc_bias: torch.Tensor,
                 character_embeddings: torch.Tensor) -> None:
        super().__init__()
        classes, in_width = ctc_weight.shape
        self.head = nn.Linear(in_width, classes)
        self.characters = nn.Linear(classes, character_embeddings.shape[1], bias=False)
        with torch.no_grad():
            self.head.weight.copy_(ctc_weight)
            self.head.bias.copy_(ctc_bias)
            self.characters.weight.copy_(character_embeddings.T)
        # Near-one-hot softmax outputs underflow to denormals, which are very slow on CPU
        # (8.4 -> 5.3 s/step when flushed, measured on this stack).
        torch.set_flush_denormal(True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.characters(torch.softmax(self.head(features), dim=-1))


def character_embedding_table(characters: str, tokenizer, embeddings: torch.Tensor) -> torch.Tensor:
    """(1 + len(characters), width): row 0 (CTC blank) zeros, row i the mean embedding of the
    tokens that spell characters[i-1] (a lone space uses the tokenizer's encoding of " ")."""
    rows = [torch.zeros(embeddings.shape[1])]
    for char in characters:
        ids = tokenizer(char, add_special_tokens=False)["input_ids"] or [tokenizer.unk_token_id or 0]
        rows.append(embeddings[ids].float().mean(dim=0))
    return torch.stack(rows)


def vision_projection(init: str, feature_size: int, width: int, reader=None, tokenizer=None,
                      embeddings: torch.Tensor | None = None) -> nn.Module:
    if init == "soft_characters":
        weight, bias = reader.ctc_head()
        table = character_embedding_table(reader.characters, tokenizer, embeddings)
        return SoftCharacterProjection(weight.float(), bias.float(), table)
    return MlpProjection(feature_size, width)
