"""Pieces shared by the tower forwards: batch inputs and attention that keeps nothing for backward."""

from __future__ import annotations

from deepsynth.estimate.ops import FP32, Ops
from deepsynth.estimate.trace import T


class Inputs:
    """Batch tensors the step reads (pixels, masks, cached features): resident for the whole step."""

    def __init__(self, o: Ops) -> None:
        self.o = o

    def leaf(self, nbytes: int, name: str) -> T:
        return self.o.t.input(nbytes, name=name)


def frozen_attention(o: Ops, q: T, k: T, v: T, out_bytes: int, heads: int, rows: int, queries: int, keys: int,
          mask: T | None = None) -> T:
    """Frozen attention over `rows` sequences (no gradient). Scratch: the score matrices when they are
    materialised: eager attention (scores, fp32 softmax, cast back), or SDPA given an explicit mask on
    CPU (measured: one score matrix beside the mask); CUDA's memory-efficient kernel takes masks as is."""
    scores = rows * heads * queries * keys
    scratch = 0
    if o.s.attention == "eager":
        scratch = scores * (2 * o.e + FP32)
    elif mask is not None and not o.s.cuda:
        scratch = scores * o.e
    return o.t.op("attention", [q, k, v, mask], out_bytes, [], workspace=scratch)
