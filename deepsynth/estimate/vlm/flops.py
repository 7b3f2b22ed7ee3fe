"""Training FLOPs of a native VLM step (the counting rules of `estimate/throughput.py`).

The frozen tower runs forward only: 2 FLOPs per weight per token that weight sees (Kaplan et al.
2020, arXiv 2001.08361 sec. 2.1), plus attention's 4 x queries x keys x width per attention layer
(scores and the weighted sum). Nothing of the tower runs when its features are cached. The projector
runs forward (2) and, when it trains, backward too (+4). Tokens per tower stage follow each family's
downsampling (SAM's 16x neck, DaViT's strided stages, the Qwen merger's 2 x 2, SigLIP's shuffle).
"""

from __future__ import annotations

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.inventory import Inventory
from deepsynth.estimate.vlm.davit import davit_grid
from deepsynth.estimate.vlm.spec import (
    DavitTower,
    DeepseekOcr2Tower,
    QwenVisionTower,
    SiglipVisionTower,
)
from deepsynth.estimate.vlm.towers import deepseek_grid, sample_tokens


def _weights(inventory: Inventory, prefix: str, group: str = "vision") -> int:
    return sum(p.numel for p in inventory.parameters if p.group == group and p.name.startswith(prefix)
               and not p.name.endswith(".bias"))


def tower_flops(arch: Architecture, inventory: Inventory, images: list[tuple[int, int]], trains_projector: bool,
                views: int = 1) -> float:
    """FLOPs of the tower (forward) and projector for one document's images."""
    t, root = arch.vlm.tower, arch.vlm.tower_root
    projector = _weights(inventory, "", "projector") * sample_tokens(arch.vlm, images, views)
    flops = (6 if trains_projector else 2) * projector
    if isinstance(t, QwenVisionTower):
        patches = [(h // t.patch_size) * (w // t.patch_size) for h, w in images]
        flops += 2 * _weights(inventory, root) * sum(patches)
        window = (t.window_size // t.patch_size) ** 2 if t.gated_mlp else 0
        for block in range(t.depth):
            full = not t.gated_mlp or block in t.full_attention_blocks
            flops += sum(4 * n * (n if full else min(n, window)) * t.width for n in patches)
    elif isinstance(t, SiglipVisionTower):
        patches = [(h // t.patch_size) * (w // t.patch_size) for h, w in images]
        flops += sum(2 * _weights(inventory, root) * n + 4 * t.layers * n * n * t.width for n in patches)
    elif isinstance(t, DeepseekOcr2Tower):
        sam, encoder = t.sam, t.encoder
        for side, _ in images:
            grid = side // sam.patch_size
            patches, queries = deepseek_grid(t, side)
            length = patches + queries
            flops += 2 * _weights(inventory, f"{root}.sam_encoder") * grid * grid
            for block in range(sam.layers):
                window = grid if block in sam.global_blocks else sam.window_size
                flops += 4 * grid * grid * min(window * window, grid * grid) * sam.width
            flops += 2 * _weights(inventory, f"{root}.vision_encoder") * length
            flops += 4 * encoder.num_layers * length * length * encoder.q_width
    elif isinstance(t, DavitTower):
        for height, width in images:
            for stage, dim in enumerate(t.embed_dim):
                height, width = davit_grid(
                    DavitTower(**{**t.__dict__, "patch_size": (t.patch_size[stage],),
                                  "patch_stride": (t.patch_stride[stage],), "patch_padding": (t.patch_padding[stage],)}),
                    height, width)
                tokens = height * width
                stage_weights = _weights(inventory, f"{root}.convs.{stage}.") + \
                    _weights(inventory, f"{root}.blocks.{stage}.")
                flops += 2 * stage_weights * tokens + 4 * t.depths[stage] * tokens * t.window_size ** 2 * dim
    return flops
