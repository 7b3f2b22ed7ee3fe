"""Florence-2's DaViT tower and multi-modal projector as ops (see `towers.py` for the conventions):
stages of a strided convolution embedding, then blocks of a spatial-window half and a channel-group
half, each with a depthwise convolution, attention and an MLP on residual branches."""

from __future__ import annotations

import math

from deepsynth.estimate.ops import FP32, Ops
from deepsynth.estimate.trace import T
from deepsynth.estimate.vlm.frozen import Inputs, frozen_attention
from deepsynth.estimate.vlm.spec import DavitTower


def davit_tower(o: Ops, t: DavitTower, images: list[tuple[int, int]], inputs: Inputs) -> tuple[T, int, int]:
    """`model.vision_tower` on the batch's images; returns (states, grid height, grid width)."""
    e, count = o.e, len(images)
    height, width = images[0]
    pixels = inputs.leaf(count * t.in_channels * height * width * FP32, "pixel_values")
    x = o.cast(pixels, count * t.in_channels * height * width, e)
    channels = t.in_channels
    for stage, dim in enumerate(t.embed_dim):
        k, stride, pad = t.patch_size[stage], t.patch_stride[stage], t.patch_padding[stage]
        height = (height + 2 * pad - k) // stride + 1
        width = (width + 2 * pad - k) // stride + 1
        n = count * height * width
        if t.patch_prenorm[stage]:
            x = o.layer_norm(x, x.nbytes // (channels * e), channels, "")
        x = o.t.op("conv2d", [x], n * dim * e, [])
        if not t.patch_prenorm[stage]:
            x = o.layer_norm(x, n, dim, "")
        channels = dim
        mlp = int(dim * t.mlp_ratio)
        for j in range(t.depths[stage]):
            for kind in ("spatial_block", "channel_block"):
                block = f"model.vision_tower.blocks.{stage}.{j}.{kind}"
                x = _davit_half(o, t, x, block, n, dim, mlp, count, height, width, kind == "spatial_block", stage)
    return x, height, width


def _davit_half(o: Ops, t: DavitTower, x: T, block: str, n: int, dim: int, mlp: int, count: int,
                height: int, width: int, spatial: bool, stage: int) -> T:
    e = o.e
    x = o.add(x, o.t.op("depthwise_conv", [x], n * dim * e, []))
    h = o.layer_norm(x, n, dim, f"{block}.norm1")
    if spatial:
        window = t.window_size
        tokens = count * math.ceil(height / window) * math.ceil(width / window) * window * window
        h = o.t.op("window_partition", [h], tokens * dim * e, [])
        qkv = o.linear(h, f"{block}.window_attn.qkv", tokens, dim, 3 * dim)
        attn = frozen_attention(o, qkv, qkv, qkv, tokens * dim * e, t.num_heads[stage], tokens // window ** 2, window ** 2,
                     window ** 2)
        out = o.linear(attn, f"{block}.window_attn.proj", tokens, dim, dim)
        out = o.t.op("window_merge", [out], tokens * dim * e, [])
        out = o.t.op("crop", [out], n * dim * e, [])
    else:  # attention across channels within each group: (count, groups, dim/groups, tokens)
        qkv = o.linear(h, f"{block}.channel_attn.qkv", n, dim, 3 * dim)
        attn = frozen_attention(o, qkv, qkv, qkv, n * dim * e, t.num_groups[stage], count, dim // t.num_groups[stage],
                     dim // t.num_groups[stage])
        attn = o.t.op("groups_to_channels", [attn], n * dim * e, [])
        out = o.linear(attn, f"{block}.channel_attn.proj", n, dim, dim)
    x = o.add(x, out)
    x = o.add(x, o.t.op("depthwise_conv", [x], n * dim * e, []))
    h = o.layer_norm(x, n, dim, f"{block}.norm2")
    inner = o.activation(o.linear(h, f"{block}.ffn.fc1", n, dim, mlp), n * mlp, t.hidden_act)
    return o.add(x, o.linear(inner, f"{block}.ffn.fc2", n, mlp, dim))


def davit_grid(t: DavitTower, height: int, width: int) -> tuple[int, int]:
    """Token grid after every stage's strided convolution."""
    for k, stride, pad in zip(t.patch_size, t.patch_stride, t.patch_padding):
        height = (height + 2 * pad - k) // stride + 1
        width = (width + 2 * pad - k) // stride + 1
    return height, width


def davit_projector(o: Ops, t: DavitTower, x: T, count: int, height: int, width: int) -> T:
    """`multi_modal_projector`: + 2-D positions, + temporal table, mean-pooled token in front,
    image_projection, LayerNorm. Returns (count, tokens + 1, projection_dim)."""
    e, root, channels, tokens = o.e, "model.multi_modal_projector", t.embed_dim[-1], height * width
    cols = o.embedding(f"{root}.image_position_embed.column_embeddings", width, channels - channels // 2)
    rows = o.embedding(f"{root}.image_position_embed.row_embeddings", height, channels // 2)
    grid = o.t.op("repeat_cat", [cols, rows], 3 * tokens * channels * e, [])  # two repeats and their cat
    positions = o.t.op("repeat_batch", [grid], count * tokens * channels * e, [])
    x = o.add(x, positions)
    x = o.t.op("add_temporal", [x], count * tokens * channels * e, [])
    pooled = o.t.op("mean_tokens", [x], count * channels * e, [])
    x = o.t.op("mean_frames", [x], count * tokens * channels * e, [])
    x = o.t.op("cat", [pooled, x], count * (tokens + 1) * channels * e, [])
    out = count * (tokens + 1)
    x = o.linear(x, f"{root}.image_projection", out, channels, t.projection_dim)
    return o.layer_norm(x, out, t.projection_dim, f"{root}.image_proj_norm")
