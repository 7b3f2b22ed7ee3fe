"""The vision tower's forward pass and the projector, written as the ops transformers 5 runs.

The tower is frozen, so autograd keeps nothing from it: these ops only decide the transient working
set while the tower runs (its inputs, the residual stream, one block's intermediates). A LoRA that
explicit targets put inside the tower, or a projector trained through `modules_to_save`, makes the
affected ops keep their inputs as usual (`Ops.linear`). View-only reshapes are not ops; the copies
that `.contiguous()`, `torch.cat`, fancy indexing and permuted `reshape` make are.
Sizes: `n` tokens of width `w` at `e` bytes; `images` are the (height, width) of each tower input.
"""

from __future__ import annotations

import math

from deepsynth.estimate.blocks import gated_mlp
from deepsynth.estimate.ops import FP32, INDEX, Ops
from deepsynth.estimate.trace import T
from deepsynth.estimate.vlm.davit import davit_grid, davit_projector, davit_tower
from deepsynth.estimate.vlm.frozen import Inputs, frozen_attention
from deepsynth.estimate.vlm.spec import (
    DavitTower,
    DeepseekOcr2Tower,
    QwenVisionTower,
    SiglipVisionTower,
    VisionLanguage,
)


def _norm(o: Ops, x: T, n: int, width: int, name: str, rms: bool) -> T:
    return o.rms_norm(x, n, width, name) if rms else o.layer_norm(x, n, width, name)


def _frozen_act(o: Ops, x: T, elems: int, kind: str) -> T:
    """An activation on frozen activations; quick_gelu (x * sigmoid(1.702 x)) makes two temporaries."""
    if kind == "quick_gelu":
        scaled = o.t.op("mul_scalar", [x], elems * o.e, [])
        gate = o.t.op("sigmoid", [scaled], elems * o.e, [])
        return o.mul(x, gate, elems * o.e)
    return o.activation(x, elems, kind)


def _rope_fp32(o: Ops, src: T, elems: int, cos: T, sin: T) -> T:
    """apply_rotary_pos_emb_vision on a q or k view: fp32 copy, x*cos + rotate_half(x)*sin, back to dtype."""
    x = o.t.op("float", [src], elems * FP32, []) if o.e != FP32 else src
    a = o.t.op("mul_cos", [x, cos], elems * FP32, [])
    rotated = o.t.op("rotate_half", [x], elems * FP32, [])
    c = o.t.op("mul_sin", [rotated, sin], elems * FP32, [])
    out = o.t.op("add", [a, c], elems * FP32, [])
    return o.cast(out, elems, o.e)


# ---- Qwen2-VL / Qwen2.5-VL -----------------------------------------------------------------------
def qwen_tower(o: Ops, t: QwenVisionTower, images: list[tuple[int, int]], inputs: Inputs) -> T:
    """`model.visual` on every image of the batch packed into one sequence; returns merged tokens."""
    e, w, root = o.e, t.width, "model.visual"
    grids = [(h // t.patch_size) * (wd // t.patch_size) for h, wd in images]
    n, hd = sum(grids), w // t.heads
    patch = t.in_channels * t.temporal_patch_size * t.patch_size ** 2
    pixels = inputs.leaf(n * patch * FP32, "pixel_values")  # processor output, float32
    x = o.cast(pixels, n * patch, e)
    x = o.t.op("conv3d", [x], n * w * e, [])
    cos = o.t.op("rotary_cos", [], n * hd * FP32, [])  # (n, head_dim) fp32 tables
    sin = o.t.op("rotary_sin", [], n * hd * FP32, [])
    if t.gated_mlp:  # Qwen2.5-VL: tokens and tables reordered window by window
        x = o.t.op("window_index", [x], n * w * e, [])
        cos = o.t.op("window_index", [cos], n * hd * FP32, [])
        sin = o.t.op("window_index", [sin], n * hd * FP32, [])
    longest = max(grids)
    for i in range(t.depth):
        block = f"{root}.blocks.{i}"
        h = _norm(o, x, n, w, f"{block}.norm1", t.gated_mlp)
        qkv = o.linear(h, f"{block}.attn.qkv", n, w, 3 * w)
        q = _rope_fp32(o, qkv, n * w, cos, sin)
        k = _rope_fp32(o, qkv, n * w, cos, sin)
        chunk = longest
        if t.gated_mlp and i not in t.full_attention_blocks:
            chunk = min(longest, (t.window_size // t.patch_size) ** 2)
        # one SDPA per image (per window): outputs transposed back, then concatenated
        attn = frozen_attention(o, q, k, qkv, n * w * e, t.heads, 1, chunk, chunk)
        attn = o.t.op("cat", [attn], n * w * e, [])
        x = o.add(x, o.linear(attn, f"{block}.attn.proj", n, w, w))
        h = _norm(o, x, n, w, f"{block}.norm2", t.gated_mlp)
        if t.gated_mlp:
            out = gated_mlp(o, h, f"{block}.mlp", n, w, t.mlp_width, t.hidden_act)
        else:
            inner = o.linear(h, f"{block}.mlp.fc1", n, w, t.mlp_width)
            out = o.linear(_frozen_act(o, inner, n * t.mlp_width, t.hidden_act), f"{block}.mlp.fc2", n, t.mlp_width, w)
        x = o.add(x, out)
    return qwen_merger(o, t, x, n)


def qwen_merger(o: Ops, t: QwenVisionTower, x: T, n: int) -> T:
    """`visual.merger`: norm, merge_size^2 patches -> one token, Linear -> GELU -> Linear."""
    e, w, root = o.e, t.width, "model.visual.merger"
    merged, tokens = w * t.merge_size ** 2, n // t.merge_size ** 2
    h = _norm(o, x, n, w, f"{root}.ln_q", t.gated_mlp)
    h = o.linear(h, f"{root}.mlp.0", tokens, merged, merged)
    h = o.activation(h, tokens * merged, "gelu")
    out = o.linear(h, f"{root}.mlp.2", tokens, merged, t.out_width)
    if t.gated_mlp:
        out = o.t.op("reverse_index", [out], tokens * t.out_width * e, [o.t.leaf(tokens * INDEX)])
    return out


# ---- SmolVLM / Idefics3 ---------------------------------------------------------------------------
def siglip_tower(o: Ops, t: SiglipVisionTower, images: list[tuple[int, int]], batch: int, inputs: Inputs) -> T:
    """`model.vision_model` on every tile (tiles share one size); returns the tower's states."""
    e, w, root = o.e, t.width, "model.vision_model"
    tiles = len(images)
    side_h, side_w = images[0]
    pixels = tiles * t.channels * side_h * side_w
    values = inputs.leaf(pixels * FP32, "pixel_values")
    inputs.leaf(tiles * side_h * side_w * INDEX, "pixel_attention_mask")
    x = o.cast(values, pixels, e)
    # drop all-zero padding images: (pixel_values == 0) is a bool per pixel, then the real ones are copied
    o.t.op("is_zero", [x], pixels, [])
    x = o.t.op("index_real_images", [x], pixels * e, [])
    o.t.op("index_real_masks", [], tiles * side_h * side_w * INDEX, [])  # the int64 pixel mask, copied
    patches = (side_h // t.patch_size) * (side_w // t.patch_size)
    n = tiles * patches
    x = o.t.op("conv2d", [x], n * w * e, [])
    positions = o.embedding(f"{root}.embeddings.position_embedding", n, w)
    x = o.add(x, positions)
    for i in range(t.layers):
        layer = f"{root}.encoder.layers.{i}"
        h = o.layer_norm(x, n, w, f"{layer}.layer_norm1")
        q = o.linear(h, f"{layer}.self_attn.q_proj", n, w, w)
        k = o.linear(h, f"{layer}.self_attn.k_proj", n, w, w)
        v = o.linear(h, f"{layer}.self_attn.v_proj", n, w, w)
        attn = frozen_attention(o, q, k, v, n * w * e, t.heads, tiles, patches, patches)
        x = o.add(x, o.linear(attn, f"{layer}.self_attn.out_proj", n, w, w))
        h = o.layer_norm(x, n, w, f"{layer}.layer_norm2")
        inner = o.linear(h, f"{layer}.mlp.fc1", n, w, t.intermediate_size)
        inner = o.activation(inner, n * t.intermediate_size, t.hidden_act)
        x = o.add(x, o.linear(inner, f"{layer}.mlp.fc2", n, t.intermediate_size, w))
    return o.layer_norm(x, n, w, f"{root}.post_layernorm")


def siglip_connector(o: Ops, t: SiglipVisionTower, x: T, n: int) -> T:
    """`model.connector`: pixel shuffle (two permuted copies) then the projection (no bias)."""
    e, tokens = o.e, n // t.scale_factor ** 2
    x = o.t.op("pixel_shuffle", [x], n * t.width * e, [])
    x = o.t.op("pixel_shuffle", [x], n * t.width * e, [])
    return o.linear(x, "model.connector.modality_projection.proj", tokens, t.width * t.scale_factor ** 2, t.out_width)


# ---- DeepSeek-OCR-2 -------------------------------------------------------------------------------
def deepseek_grid(t: DeepseekOcr2Tower, side: int) -> tuple[int, int]:
    """(SAM tokens after the two stride-2 convolutions, learned queries) for a view of `side` pixels:
    the encoder appends 144 queries (the "768" set) when the SAM tokens number at most 144, else 256."""
    grid = side // t.sam.patch_size
    for _ in range(2):  # kernel 3, stride 2, padding 1
        grid = (grid - 1) // 2 + 1
    patches = grid * grid
    return patches, 144 if patches <= 144 else 256


def deepseek_features(o: Ops, t: DeepseekOcr2Tower, sides: list[int], views: int, cached_states: bool,
                      inputs: Inputs) -> T:
    """One document: its `views` global views (the first sides) through the tower in one call, then
    its local crops in another (SAM + query encoder, or cached tower states), the projector on the
    query part of each, then per image [local, global, view separator] (copies) and
    `get_image_features`' pooled list concatenated (a copy)."""
    e, out_width = o.e, t.out_width
    projected = []
    for group in (sides[:views], sides[views:]):
        if not group:
            continue
        count, side = len(group), group[0]
        queries = count * deepseek_grid(t, side)[1]
        if cached_states:
            states = inputs.leaf(queries * t.encoder.hidden_size * e, "cached tower states")
        else:
            pixels = inputs.leaf(count * t.sam.channels * side * side * FP32, "pixel_values")
            features = _sam(o, t, o.cast(pixels, count * t.sam.channels * side * side, e), count, side)
            states = _query_encoder(o, t, features, count, side)  # the query part is a view of these
        projected.append(o.linear(states, "model.multi_modal_projector", queries, t.encoder.hidden_size, out_width))
    tokens = sum(x.nbytes for x in projected) // e + views * out_width  # + one view separator per image
    per_image = o.t.op("cat_views", projected, tokens * e, [], alias_grad=True)
    return o.t.op("cat", [per_image], tokens * e, [], alias_grad=True)


def _sam(o: Ops, t: DeepseekOcr2Tower, x: T, count: int, side: int) -> T:
    s, e = t.sam, o.e
    w, grid = s.width, side // s.patch_size
    n, root = count * grid * grid, "model.vision_tower.sam_encoder"
    x = o.t.op("conv2d", [x], n * w * e, [])
    if s.use_abs_pos:
        if grid != s.image_size // s.patch_size:  # bicubic interpolation of the position table, in fp32
            o.t.op("interpolate", [], 2 * grid * grid * w * FP32, [])
        x = o.t.op("add", [x], n * w * e, [])
    for i in range(s.layers):
        layer = f"{root}.layers.{i}"
        window = grid if i in s.global_blocks else s.window_size
        padded = math.ceil(grid / window) * window
        windows = count * (padded // window) ** 2
        tokens = windows * window * window
        h = o.layer_norm(x, n, w, f"{layer}.layer_norm1")
        if window != grid:  # pad and partition into windows (a contiguous copy)
            h = o.t.op("window_partition", [h], tokens * w * e, [])
        qkv = o.linear(h, f"{layer}.attn.qkv", tokens, w, 3 * w)
        qkv = o.t.op("qkv_permute", [qkv], tokens * 3 * w * e, [])
        bias = None
        if s.use_rel_pos:  # decomposed relative positions expanded to (windows, heads, N, N): the mask
            per = window * window
            rel = o.t.op("rel_pos_hw", [qkv], 2 * windows * s.heads * per * window * e, [])
            bias = o.t.op("rel_pos_bias", [rel], windows * s.heads * per * per * e, [])
        attn = frozen_attention(o, qkv, qkv, qkv, tokens * w * e, s.heads, windows, window * window, window * window, bias)
        attn = o.t.op("heads_to_channels", [attn], tokens * w * e, [])
        out = o.linear(attn, f"{layer}.attn.proj", tokens, w, w)
        if window != grid:  # unpartition (copy) and crop the padding (copy)
            out = o.t.op("window_unpartition", [out], tokens * w * e, [])
            out = o.t.op("crop", [out], n * w * e, [])
        x = o.add(x, out)
        h = o.layer_norm(x, n, w, f"{layer}.layer_norm2")
        inner = o.linear(h, f"{layer}.mlp.lin1", n, w, s.mlp_dim)
        inner = o.activation(inner, n * s.mlp_dim, s.hidden_act)
        x = o.add(x, o.linear(inner, f"{layer}.mlp.lin2", n, s.mlp_dim, w))
    out = s.output_channels
    x = o.t.op("neck_conv1", [x], n * out * e, [])
    x = o.layer_norm(x, n, out, f"{root}.neck.layer_norm1")
    x = o.t.op("neck_conv2", [x], n * out * e, [])
    x = o.layer_norm(x, n, out, f"{root}.neck.layer_norm2")
    half = (grid - 1) // 2 + 1
    x = o.t.op("proj_conv1", [x], count * half * half * s.downsample_channels[0] * e, [])
    patches = deepseek_grid(t, side)[0]
    return o.t.op("proj_conv2", [x], count * patches * s.downsample_channels[1] * e, [])


def _query_encoder(o: Ops, t: DeepseekOcr2Tower, x: T, count: int, side: int) -> T:
    """SAM tokens + the learned queries, through the causal-over-queries encoder; the query part out."""
    enc, e = t.encoder, o.e
    patches, queries = deepseek_grid(t, side)
    length = patches + queries
    n, h = count * length, enc.hidden_size
    x = o.t.op("cat_queries", [x], n * h * e, [])
    # bool block mask (bidirectional over image tokens, causal over queries), kept for every layer
    mask = o.t.op("mask", [], count * length * length, [])
    cos = o.t.op("rotary_cos", [], length * enc.head_dim * e, [])
    sin = o.t.op("rotary_sin", [], length * enc.head_dim * e, [])
    root = "model.vision_tower.vision_encoder"
    for i in range(enc.num_layers):
        layer = f"{root}.layers.{i}"
        normed = o.rms_norm(x, n, h, f"{layer}.input_layernorm")
        q = o.linear(normed, f"{layer}.self_attn.q_proj", n, h, enc.q_width)
        k = o.linear(normed, f"{layer}.self_attn.k_proj", n, h, enc.kv_width)
        v = o.linear(normed, f"{layer}.self_attn.v_proj", n, h, enc.kv_width)
        q, k = o.rope(q, cos, sin), o.rope(k, cos, sin)
        if enc.num_kv_heads != enc.num_heads:  # a mask is passed: SDPA gets repeated k/v heads
            k = o.t.op("repeat_kv", [k], n * enc.q_width * e, [])
            v = o.t.op("repeat_kv", [v], n * enc.q_width * e, [])
        attn = frozen_attention(o, q, k, v, n * enc.q_width * e, enc.num_heads, count, length, length, mask)
        x = o.add(x, o.linear(attn, f"{layer}.self_attn.o_proj", n, enc.q_width, h))
        normed = o.rms_norm(x, n, h, f"{layer}.post_attention_layernorm")
        x = o.add(x, gated_mlp(o, normed, f"{layer}.mlp", n, h, enc.intermediate_size, enc.hidden_act))
    return o.rms_norm(x, n, h, f"{root}.norm")  # the query half is a view


def sample_tokens(vlm: VisionLanguage, images: list[tuple[int, int]], views: int = 1) -> int:
    """Image tokens the tower + projector yield for one document's images (DeepSeek-OCR-2: its
    `views` global views come first, then the local crops)."""
    t = vlm.tower
    if isinstance(t, QwenVisionTower):
        return sum((h // t.patch_size) * (w // t.patch_size) for h, w in images) // t.merge_size ** 2
    if isinstance(t, SiglipVisionTower):
        return sum((h // t.patch_size) * (w // t.patch_size) for h, w in images) // t.scale_factor ** 2
    if isinstance(t, DeepseekOcr2Tower):
        return sum(deepseek_grid(t, side)[1] for side, _ in images) + views
    height, width = davit_grid(t, *images[0])
    return len(images) * (height * width + 1)


def _one_document(o: Ops, vlm: VisionLanguage, images: list[tuple[int, int]], views: int, cached_states: bool,
                  inputs: Inputs) -> T:
    """`get_image_features` on one document's pixels (or the projector on its cached tower states)."""
    tower, e = vlm.tower, o.e
    if isinstance(tower, QwenVisionTower):
        n = sum((h // tower.patch_size) * (w // tower.patch_size) for h, w in images)
        out = qwen_merger(o, tower, inputs.leaf(n * tower.width * e, "cached tower states"), n) if cached_states \
            else qwen_tower(o, tower, images, inputs)
        return o.t.op("cat", [out], out.nbytes, [], alias_grad=True)  # pooled list, one entry per image
    if isinstance(tower, SiglipVisionTower):
        n = len(images) * (images[0][0] // tower.patch_size) * (images[0][1] // tower.patch_size)
        states = inputs.leaf(n * tower.width * e, "cached tower states") if cached_states else \
            siglip_tower(o, tower, images, 1, inputs)
        out = siglip_connector(o, tower, states, n)
        return o.t.op("cat", [out], out.nbytes, [], alias_grad=True)
    if isinstance(tower, DeepseekOcr2Tower):
        return deepseek_features(o, tower, [h for h, _ in images], views, cached_states, inputs)
    count = len(images)
    height, width = davit_grid(tower, *images[0])
    if cached_states:
        states = inputs.leaf(count * height * width * tower.embed_dim[-1] * e, "cached tower states")
    else:
        states, height, width = davit_tower(o, tower, images, inputs)
    return davit_projector(o, tower, states, count, height, width)


def tower_and_projector(o: Ops, vlm: VisionLanguage, images: list[tuple[int, int]], documents: int, cached: bool,
                        inputs: Inputs, views: int = 1) -> T:
    """The image features the language model receives for the whole batch (LM width, one row per
    image token), as DeepSynth's VLM model builds them: the tower + projector run one document at a
    time (`get_image_features`), the documents' features are concatenated, and the model
    concatenates its `mm_encoder_outputs` list once more. Cached: the tower does not run; the batch
    carries the projected features, or the tower's states when the projector trains."""
    e, width = o.e, vlm.tower.out_width if not isinstance(vlm.tower, DavitTower) else vlm.tower.projection_dim
    tokens = sample_tokens(vlm, images, views) * documents
    if cached and not vlm.train_projector:
        features = inputs.leaf(tokens * width * e, "cached features")
    else:
        parts = [_one_document(o, vlm, images, views, cached, inputs) for _ in range(documents)]
        features = o.t.op("cat", parts, tokens * width * e, [], alias_grad=True)
    return o.t.op("cat", [features], tokens * width * e, [], alias_grad=True)
