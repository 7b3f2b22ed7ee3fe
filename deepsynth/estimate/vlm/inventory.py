"""Every parameter and adaptable module of a native VLM, named as transformers 5 names them.

Groups: `vision` (the frozen tower, never quantized), `projector` (the merger / connector that
`modules_to_save` can train; never quantized) and `decoder` (the language model and the LM head: its
Linear layers but the head are what QLoRA quantizes). Tied weights are listed once, as
`named_parameters()` lists them. Tests build each family on the meta device and compare every count.
"""

from __future__ import annotations

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.inventory import (
    Inventory,
    _attention,
    _Builder,
    _gated_mlp,
    decoder_inventory,
    merge,
)
from deepsynth.estimate.vlm.spec import (
    BartShape,
    DavitTower,
    DeepseekOcr2Tower,
    QwenVisionTower,
    SiglipVisionTower,
    VisionLanguage,
)


def vlm_inventory(arch: Architecture) -> Inventory:
    vlm = arch.vlm
    vision = _Builder("vision", quantize=False)
    projector = _Builder("projector", quantize=False)
    tower = vlm.tower
    if isinstance(tower, QwenVisionTower):
        _qwen_tower(vision, projector, tower, vlm)
    elif isinstance(tower, SiglipVisionTower):
        _siglip_tower(vision, projector, tower, vlm)
    elif isinstance(tower, DeepseekOcr2Tower):
        _deepseek_tower(vision, projector, tower, vlm)
    elif isinstance(tower, DavitTower):
        _davit_tower(vision, projector, tower, vlm)
    language = language_inventory(arch)
    return merge(vision.build(), projector.build(), language)


def language_inventory(arch: Architecture) -> Inventory:
    """The language model (group `decoder`) and the LM head."""
    vlm = arch.vlm
    if vlm.bart is not None:
        b = _Builder("decoder")
        _bart(b, vlm.bart, vlm.language_root, tie_head=arch.decoder.tie_word_embeddings)
        return b.build()
    return decoder_inventory(arch.decoder, root=vlm.language_root, head="lm_head")


def _norm(b: _Builder, name: str, width: int, layer_norm: bool) -> None:
    b.norm(name, width, bias=layer_norm)


# ---- merger_vit, windowed_merger_vit (Qwen2-VL, Qwen2.5-VL): the tower with its merger -----------
def _qwen_tower(b: _Builder, p: _Builder, t: QwenVisionTower, vlm: VisionLanguage) -> None:
    root, w, layer_norm = vlm.tower_root, t.width, not t.gated_mlp
    b.conv2d(f"{root}.patch_embed.proj", t.in_channels, w, (t.temporal_patch_size, t.patch_size, t.patch_size), False)
    for i in range(t.depth):
        block = f"{root}.blocks.{i}"
        _norm(b, f"{block}.norm1", w, layer_norm)
        _norm(b, f"{block}.norm2", w, layer_norm)
        b.linear(f"{block}.attn.qkv", w, 3 * w, True)
        b.linear(f"{block}.attn.proj", w, w, True)
        if t.gated_mlp:
            _gated_mlp(b, f"{block}.mlp", w, t.mlp_width, True)
        else:
            b.linear(f"{block}.mlp.fc1", w, t.mlp_width, True)
            b.linear(f"{block}.mlp.fc2", t.mlp_width, w, True)
    merged = w * t.merge_size ** 2
    _norm(p, f"{vlm.projector}.ln_q", w, layer_norm)
    p.linear(f"{vlm.projector}.mlp.0", merged, merged, True)
    p.linear(f"{vlm.projector}.mlp.2", merged, t.out_width, True)


# ---- siglip_pixel_shuffle (SmolVLM, Idefics3): the tower + the connector -------------------------
def _siglip_tower(b: _Builder, p: _Builder, t: SiglipVisionTower, vlm: VisionLanguage) -> None:
    root, w = vlm.tower_root, t.width
    b.conv2d(f"{root}.embeddings.patch_embedding", t.channels, w, t.patch_size, True)
    b.embedding(f"{root}.embeddings.position_embedding", (t.image_size // t.patch_size) ** 2, w)
    for i in range(t.layers):
        layer = f"{root}.encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            b.linear(f"{layer}.self_attn.{proj}", w, w, True)
        _norm(b, f"{layer}.layer_norm1", w, True)
        b.linear(f"{layer}.mlp.fc1", w, t.intermediate_size, True)
        b.linear(f"{layer}.mlp.fc2", t.intermediate_size, w, True)
        _norm(b, f"{layer}.layer_norm2", w, True)
    _norm(b, f"{root}.post_layernorm", w, True)
    p.linear(f"{vlm.projector}.modality_projection.proj", w * t.scale_factor ** 2, t.out_width, False)


# ---- sam_query_encoder (DeepSeek-OCR-2): SAM + query encoder, then the projector ------------------
def _deepseek_tower(b: _Builder, p: _Builder, t: DeepseekOcr2Tower, vlm: VisionLanguage) -> None:
    sam, root = t.sam, f"{vlm.tower_root}.sam_encoder"
    side, head_dim = sam.image_size // sam.patch_size, sam.width // sam.heads
    b.param("model.view_separator", t.out_width)  # learned separator appended to every image's tokens
    if sam.use_abs_pos:
        b.param(f"{root}.pos_embed", 1, side, side, sam.width)
    b.conv2d(f"{root}.patch_embed.projection", sam.channels, sam.width, sam.patch_size, True)
    for i in range(sam.layers):
        layer = f"{root}.layers.{i}"
        window = side if i in sam.global_blocks else sam.window_size
        _norm(b, f"{layer}.layer_norm1", sam.width, True)
        if sam.use_rel_pos:
            b.param(f"{layer}.attn.rel_pos_h", 2 * window - 1, head_dim)
            b.param(f"{layer}.attn.rel_pos_w", 2 * window - 1, head_dim)
        b.linear(f"{layer}.attn.qkv", sam.width, 3 * sam.width, sam.qkv_bias)
        b.linear(f"{layer}.attn.proj", sam.width, sam.width, True)
        _norm(b, f"{layer}.layer_norm2", sam.width, True)
        b.linear(f"{layer}.mlp.lin1", sam.width, sam.mlp_dim, True)
        b.linear(f"{layer}.mlp.lin2", sam.mlp_dim, sam.width, True)
    out = sam.output_channels
    b.conv2d(f"{root}.neck.conv1", sam.width, out, 1, False)
    _norm(b, f"{root}.neck.layer_norm1", out, True)
    b.conv2d(f"{root}.neck.conv2", out, out, 3, False)
    _norm(b, f"{root}.neck.layer_norm2", out, True)
    b.conv2d(f"{root}.proj.conv1", out, sam.downsample_channels[0], 3, False)
    b.conv2d(f"{root}.proj.conv2", sam.downsample_channels[0], sam.downsample_channels[1], 3, False)
    encoder = t.encoder
    for i in range(encoder.num_layers):
        layer = f"{vlm.tower_root}.vision_encoder.layers.{i}"
        _attention(b, encoder, f"{layer}.self_attn")
        _gated_mlp(b, f"{layer}.mlp", encoder.hidden_size, encoder.intermediate_size, False)
        b.norm(f"{layer}.input_layernorm", encoder.hidden_size, False)
        b.norm(f"{layer}.post_attention_layernorm", encoder.hidden_size, False)
    b.norm(f"{vlm.tower_root}.vision_encoder.norm", encoder.hidden_size, False)
    b.embedding(f"{vlm.tower_root}.query_768_resolution", 144, encoder.hidden_size)  # 12 x 12 queries
    b.embedding(f"{vlm.tower_root}.query_1024_resolution", 256, encoder.hidden_size)  # 16 x 16 queries
    p.linear(vlm.projector, encoder.hidden_size, t.out_width, True)


# ---- davit_bart (Florence-2): the DaViT tower + the projector -------------------------------------
def _davit_tower(b: _Builder, p: _Builder, t: DavitTower, vlm: VisionLanguage) -> None:
    root = vlm.tower_root
    for stage, dim in enumerate(t.embed_dim):
        in_c = t.in_channels if stage == 0 else t.embed_dim[stage - 1]
        conv = f"{root}.convs.{stage}"
        b.conv2d(f"{conv}.conv", in_c, dim, t.patch_size[stage], True)
        _norm(b, f"{conv}.norm", in_c if t.patch_prenorm[stage] else dim, True)
        mlp = int(dim * t.mlp_ratio)
        for j in range(t.depths[stage]):
            for kind, attn in (("spatial_block", "window_attn"), ("channel_block", "channel_attn")):
                block = f"{root}.blocks.{stage}.{j}.{kind}"
                b.conv2d(f"{block}.conv1", dim, dim, 3, True, groups=dim)  # depthwise
                _norm(b, f"{block}.norm1", dim, True)
                b.linear(f"{block}.{attn}.qkv", dim, 3 * dim, t.qkv_bias)
                b.linear(f"{block}.{attn}.proj", dim, dim, True)
                b.conv2d(f"{block}.conv2", dim, dim, 3, True, groups=dim)
                _norm(b, f"{block}.norm2", dim, True)
                b.linear(f"{block}.ffn.fc1", dim, mlp, True)
                b.linear(f"{block}.ffn.fc2", mlp, dim, True)
    last, proj = t.embed_dim[-1], vlm.projector
    p.linear(f"{proj}.image_projection", last, t.projection_dim, False)
    _norm(p, f"{proj}.image_proj_norm", t.projection_dim, True)
    p.embedding(f"{proj}.image_position_embed.row_embeddings", t.max_position_embeddings, last // 2)
    p.embedding(f"{proj}.image_position_embed.column_embeddings", t.max_position_embeddings, last - last // 2)


def tower_buffer_elements(vlm: VisionLanguage) -> int:
    """Persistent buffers that are not parameters but occupy memory (Florence-2's temporal table)."""
    tower = vlm.tower
    if isinstance(tower, DavitTower):
        return tower.max_temporal_embeddings * tower.embed_dim[-1]
    return 0


# ---- Florence-2's language model: BartModel at model.language_model + lm_head ----------------------
def _bart(b: _Builder, s: BartShape, root: str, tie_head: bool) -> None:
    d = s.d_model
    b.embedding(f"{root}.shared", s.vocab_size, d)
    for stack, layers, ffn, cross in (("encoder", s.encoder_layers, s.encoder_ffn, False),
                                      ("decoder", s.decoder_layers, s.decoder_ffn, True)):
        base = f"{root}.{stack}"
        # BartModel ties each stack's embed_tokens weight to `shared`; the modules stay distinct
        b.embedding(f"{base}.embed_tokens", s.vocab_size, d, weight=not s.tie_encoder_decoder_embeddings)
        b.embedding(f"{base}.embed_positions", s.max_positions + 2, d)  # BartLearnedPositionalEmbedding offset 2
        for i in range(layers):
            layer = f"{base}.layers.{i}"
            attentions = ("self_attn", "encoder_attn") if cross else ("self_attn",)
            for attn in attentions:
                for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
                    b.linear(f"{layer}.{attn}.{proj}", d, d, True)
                b.norm(f"{layer}.{attn}_layer_norm", d, True)
            b.linear(f"{layer}.fc1", d, ffn, True)
            b.linear(f"{layer}.fc2", ffn, d, True)
            b.norm(f"{layer}.final_layer_norm", d, True)
        b.norm(f"{base}.layernorm_embedding", d, True)
    b.linear("lm_head", d, s.vocab_size, False, weight=not tie_head, quantizable=False)
