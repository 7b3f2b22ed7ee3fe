"""The `tiny` model: a random tiny Llama-family decoder and a tiny random CRNN reader, for tests.

Built from configs with a fixed seed, so every process builds the same weights (an adapter trained
in one process reloads onto the base rebuilt in another). The tokenizer is `ByT5Tokenizer()`: bytes
as tokens, no files.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

TINY_SEED = 1234


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the caller's RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def tiny_tokenizer():
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


def tiny_decoder_config(vocab_size: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        pad_token_id=0, bos_token_id=None, eos_token_id=1, tie_word_embeddings=False,
        # Wider than the usual 0.02: with a frozen random LM head and a normalised final state, 0.02
        # caps the reachable logit gap near 1.3, so the tiny model could barely fit anything.
        initializer_range=0.2,
    )


def tiny_decoder(vocab_size: int):
    """A random LlamaForCausalLM (hidden 64, 2 layers), the same in every process."""
    from transformers import LlamaForCausalLM

    with seeded(TINY_SEED):
        return LlamaForCausalLM(tiny_decoder_config(vocab_size)).eval()


def tiny_text_encoder():
    """A random tiny BERT encoder and its (byte) tokenizer: the text-encoder path in tests."""
    from transformers import BertConfig, BertModel

    tokenizer = tiny_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=256,
                        pad_token_id=tokenizer.pad_token_id)
    with seeded(TINY_SEED + 1):
        return BertModel(config, add_pooling_layer=False).eval(), tokenizer
