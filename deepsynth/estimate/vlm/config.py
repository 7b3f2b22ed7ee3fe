"""A native VLM's `config.json` -> `Architecture` (tower + projector + language model), without torch.

Keys missing from the file take the transformers 5.23 config-class defaults written below
(`tests/estimate/test_estimate_vlm_params.py` checks them against transformers itself). Hub configs
of Qwen2-VL / Qwen2.5-VL keep the language model's keys at the top level ("flat"); transformers 5
saves them under `text_config`: both are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepsynth.errors import InputError
from deepsynth.estimate.architecture import (
    Architecture,
    TransformerShape,
    shape_from_config,
)
from deepsynth.estimate.vlm.processing import read_processing
from deepsynth.estimate.vlm.spec import (
    BartShape,
    DavitTower,
    DeepseekOcr2Tower,
    QwenVisionTower,
    SamEncoder,
    SiglipVisionTower,
    VisionLanguage,
)
from deepsynth.models.vlm.families import FAMILIES, FamilyFacts

# config keys that mark a composite vision-language config
_VISION_KEYS = ("vision_config", "vision_tower", "mm_vision_tower", "visual")


def is_vision_language(config: dict[str, Any]) -> bool:
    """Whether a config.json describes a vision-language model: a family of the family table, any
    `model_type` transformers maps to `AutoModelForImageTextToText` (Chameleon, Emu3, UDOP, T5Gemma 2
    have no `vision_config`: their image parts sit under other keys), or a vision sub-config."""
    model_type = config.get("model_type")
    if model_type in FAMILIES or any(key in config for key in _VISION_KEYS):
        return True
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return isinstance(model_type, str) and model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def _get(config: dict[str, Any], key: str, default: Any) -> Any:
    value = config.get(key, default)
    return default if value is None else value


def _tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def vlm_architecture(config: dict[str, Any], folder: Path | None, name: str, where: str,
                     train_projector: bool = False) -> Architecture:
    """The `Architecture` of a supported VLM config; a clear error for other vision-language configs."""
    model_type = config.get("model_type")
    if model_type == "deepseek_vl_v2" and isinstance(config.get("language_config"), dict):
        raise InputError(f"{where}: DeepSeek-OCR's composite config; use `--model deepseek-ocr` (built-in spec)")
    facts = FAMILIES.get(str(model_type))
    if facts is None:  # no family description: the model's own structure, built on the meta device
        from deepsynth.estimate.vlm.structural_estimate import structural_architecture

        return structural_architecture(config, folder, name, where, train_projector)
    decoder, tower, bart, design_notes = _READERS[facts.design](config, where, facts)
    text_type = facts.text_model_type or str((config.get("text_config") or {}).get("model_type", "llama"))
    vlm = VisionLanguage(model_type=facts.model_type, tower=tower,
                         processing=read_processing(facts.model_type, tower, folder),
                         language_root=facts.language_model, tower_root=facts.tower, projector=facts.projector,
                         train_projector=train_projector, bart=bart, text_model_type=text_type,
                         per_sample_rope=facts.per_sample_rope)
    notes = [f"{vlm.family}: vision tower frozen (forward without gradients, or cached features)",
             f"projector `{vlm.projector_leaf}` " + ("trained in full (modules_to_save)" if train_projector else "frozen"),
             *design_notes]
    return Architecture(name=name, decoder=decoder, vlm=vlm, source=where, notes=tuple(notes))


def _text(config: dict[str, Any]) -> dict[str, Any]:
    text = config.get("text_config")
    return dict(text) if isinstance(text, dict) else dict(config)  # flat hub configs keep text keys at the top


def _tied(config: dict[str, Any], default: bool, text_forwards: bool) -> bool:
    """The composite's tie_word_embeddings (what transformers 5 ties by); Qwen forwards text_config's."""
    root = bool(_get(config, "tie_word_embeddings", default))
    text = config.get("text_config")
    if text_forwards and isinstance(text, dict) and not root:
        return bool(text.get("tie_word_embeddings", False))
    return root


# ---- merger_vit, windowed_merger_vit (Qwen2-VL, Qwen2.5-VL) --------------------------------------
_QWEN_TEXT_DEFAULTS = dict(vocab_size=152064, hidden_size=8192, intermediate_size=29568, num_hidden_layers=80,
                           num_attention_heads=64, num_key_value_heads=8)


def _merger_vit(config: dict[str, Any], where: str, facts: FamilyFacts):
    given = _text(config)
    text = {**_QWEN_TEXT_DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    if "num_key_value_heads" in given and given["num_key_value_heads"] is None:  # None means one per head
        text["num_key_value_heads"] = text["num_attention_heads"]
    text.update(model_type="qwen2", tie_word_embeddings=_tied(config, False, text_forwards=True))
    text.pop("head_dim", None)  # Qwen2VLAttention: head_dim = hidden_size // num_attention_heads
    decoder = shape_from_config(text, where=f"{where} text_config")
    vision = config.get("vision_config") or {}
    if facts.design == "merger_vit":
        width = int(_get(vision, "embed_dim", 1280))
        tower = QwenVisionTower(
            width=width, depth=int(_get(vision, "depth", 32)), heads=int(_get(vision, "num_heads", 16)),
            mlp_width=int(width * _get(vision, "mlp_ratio", 4)), gated_mlp=False,
            hidden_act=str(_get(vision, "hidden_act", "quick_gelu")), in_channels=int(_get(vision, "in_channels", 3)),
            patch_size=int(_get(vision, "patch_size", 14)), temporal_patch_size=int(_get(vision, "temporal_patch_size", 2)),
            merge_size=int(_get(vision, "spatial_merge_size", 2)), out_width=int(_get(vision, "hidden_size", 3584)))
    else:
        tower = QwenVisionTower(
            width=int(_get(vision, "hidden_size", 3584)), depth=int(_get(vision, "depth", 32)),
            heads=int(_get(vision, "num_heads", 16)), mlp_width=int(_get(vision, "intermediate_size", 3420)),
            gated_mlp=True, hidden_act=str(_get(vision, "hidden_act", "silu")),
            in_channels=int(_get(vision, "in_channels", 3)), patch_size=int(_get(vision, "patch_size", 14)),
            temporal_patch_size=int(_get(vision, "temporal_patch_size", 2)),
            merge_size=int(_get(vision, "spatial_merge_size", 2)), out_width=int(_get(vision, "out_hidden_size", 3584)),
            window_size=int(_get(vision, "window_size", 112)),
            full_attention_blocks=_tuple(_get(vision, "fullatt_block_indexes", (7, 15, 23, 31))))
    return decoder, tower, None, ()


# ---- siglip_pixel_shuffle (SmolVLM, Idefics3) ----------------------------------------------------
def _siglip_pixel_shuffle(config: dict[str, Any], where: str, facts: FamilyFacts):
    text = dict(config.get("text_config") or {})
    text.setdefault("model_type", "llama")  # SubConfigSpec(model_type="llama")
    text["tie_word_embeddings"] = _tied(config, False, text_forwards=False)
    decoder = shape_from_config(text, where=f"{where} text_config")
    vision = config.get("vision_config") or {}
    tower = SiglipVisionTower(
        width=int(_get(vision, "hidden_size", 1152)), intermediate_size=int(_get(vision, "intermediate_size", 3072)),
        layers=int(_get(vision, "num_hidden_layers", 12)), heads=int(_get(vision, "num_attention_heads", 16)),
        channels=int(_get(vision, "num_channels", 3)), image_size=int(_get(vision, "image_size", 224)),
        patch_size=int(_get(vision, "patch_size", 32)), hidden_act=str(_get(vision, "hidden_act", "gelu_pytorch_tanh")),
        scale_factor=int(_get(config, "scale_factor", 2)), out_width=decoder.hidden_size)
    return decoder, tower, None, ()


# ---- sam_query_encoder (DeepSeek-OCR-2) -----------------------------------------------------------
def _sam_query_encoder(config: dict[str, Any], where: str, facts: FamilyFacts):
    text = dict(config.get("text_config") or {})
    hidden = int(_get(text, "hidden_size", 4096))
    heads = int(_get(text, "num_attention_heads", 32))
    layers = int(_get(text, "num_hidden_layers", 32))
    kinds = text.get("mlp_layer_types")
    if kinds is None:  # remote-code configs name the dense prefix instead
        first_dense = int(_get(text, "first_k_dense_replace", 1))
        kinds = ["dense" if i < first_dense else "sparse" for i in range(layers)]
    moe_width = int(_get(text, "moe_intermediate_size", 1407))
    bias = bool(_get(text, "attention_bias", False))
    decoder = TransformerShape(
        family="deepseek_v2", hidden_size=hidden, intermediate_size=int(_get(text, "intermediate_size", 11008)),
        num_layers=layers, num_heads=heads, num_kv_heads=int(_get(text, "num_key_value_heads", heads)),
        head_dim=hidden // heads,  # DeepseekOcr2TextConfig.__post_init__ sets it so
        vocab_size=int(_get(text, "vocab_size", 102400)), tie_word_embeddings=_tied(config, False, False),
        hidden_act=str(_get(text, "hidden_act", "silu")), qkv_bias=bias, o_bias=bias,
        mlp_bias=bool(_get(text, "mlp_bias", False)), attention_dropout=float(_get(text, "attention_dropout", 0.0)),
        num_experts=int(_get(text, "n_routed_experts", 64)),
        experts_per_token=int(_get(text, "num_experts_per_tok", 6)),  # None in the class; 6 in DeepSeek's models
        moe_intermediate_size=moe_width, shared_expert_intermediate_size=moe_width * int(_get(text, "n_shared_experts", 2)),
        dense_layers=tuple(i for i, kind in enumerate(kinds) if kind != "sparse"))
    vision = config.get("vision_config") or {}
    sam = dict(vision.get("sam_config") or {})
    sam_width = int(_get(sam, "hidden_size", 768))
    channels = _tuple(_get(sam, "downsample_channels", (512, 896)))
    sam_encoder = SamEncoder(
        width=sam_width, layers=int(_get(sam, "num_hidden_layers", 12)), heads=int(_get(sam, "num_attention_heads", 12)),
        channels=int(_get(sam, "num_channels", 3)), image_size=int(_get(sam, "image_size", 1024)),
        patch_size=int(_get(sam, "patch_size", 16)),
        mlp_dim=int(_get(sam, "mlp_dim", int(sam_width * _get(sam, "mlp_ratio", 4.0)))),
        window_size=int(_get(sam, "window_size", 14)), global_blocks=_tuple(_get(sam, "global_attn_indexes", (2, 5, 8, 11))),
        output_channels=int(_get(sam, "output_channels", 256)), downsample_channels=(int(channels[0]), int(channels[1])),
        qkv_bias=bool(_get(sam, "qkv_bias", True)), use_abs_pos=bool(_get(sam, "use_abs_pos", True)),
        use_rel_pos=bool(_get(sam, "use_rel_pos", True)), hidden_act=str(_get(sam, "hidden_act", "gelu")))
    enc = dict(vision.get("encoder_config") or {})
    enc_hidden = int(_get(enc, "hidden_size", 4096))
    enc_heads = int(_get(enc, "num_attention_heads", 32))
    encoder = TransformerShape(
        family="qwen2", hidden_size=enc_hidden, intermediate_size=int(_get(enc, "intermediate_size", 22016)),
        num_layers=int(_get(enc, "num_hidden_layers", 32)), num_heads=enc_heads,
        num_kv_heads=int(_get(enc, "num_key_value_heads", enc_heads)), head_dim=enc_hidden // enc_heads,
        vocab_size=0, hidden_act=str(_get(enc, "hidden_act", "silu")), qkv_bias=True, head="none")
    tower = DeepseekOcr2Tower(sam=sam_encoder, encoder=encoder, out_width=hidden)
    notes, text = [], _text(config)
    if "mlp_layer_types" not in text:
        notes.append("text_config.mlp_layer_types missing: first_k_dense_replace (default 1) dense layers assumed")
    if text.get("num_experts_per_tok") is None:
        notes.append("text_config.num_experts_per_tok missing: 6 experts per token assumed")
    return decoder, tower, None, tuple(notes)


# ---- davit_bart (Florence-2) ----------------------------------------------------------------------
def _davit_bart(config: dict[str, Any], where: str, facts: FamilyFacts):
    text = dict(config.get("text_config") or {})
    if text.get("model_type", "bart") != "bart":
        raise InputError(f"{where}: Florence-2 text_config model_type {text.get('model_type')!r}; only bart is described")
    d_model = int(_get(text, "d_model", 1024))
    bart = BartShape(
        d_model=d_model, encoder_layers=int(_get(text, "encoder_layers", 12)),
        decoder_layers=int(_get(text, "decoder_layers", 12)),
        encoder_heads=int(_get(text, "encoder_attention_heads", 16)),
        decoder_heads=int(_get(text, "decoder_attention_heads", 16)),
        encoder_ffn=int(_get(text, "encoder_ffn_dim", 4096)), decoder_ffn=int(_get(text, "decoder_ffn_dim", 4096)),
        vocab_size=int(_get(text, "vocab_size", 50265)), max_positions=int(_get(text, "max_position_embeddings", 1024)),
        hidden_act=str(_get(text, "activation_function", "gelu")), dropout=float(_get(text, "dropout", 0.1)),
        attention_dropout=float(_get(text, "attention_dropout", 0.0)),
        activation_dropout=float(_get(text, "activation_dropout", 0.0)),
        tie_encoder_decoder_embeddings=bool(_get(text, "tie_word_embeddings", True)))
    # the decoder stack seen as a TransformerShape, for the parts of the estimator that read one
    decoder = TransformerShape(
        family="bart", hidden_size=d_model, intermediate_size=bart.decoder_ffn, num_layers=bart.decoder_layers,
        num_heads=bart.decoder_heads, num_kv_heads=bart.decoder_heads, head_dim=d_model // bart.decoder_heads,
        vocab_size=bart.vocab_size, tie_word_embeddings=_tied(config, True, False), hidden_act=bart.hidden_act,
        qkv_bias=True, o_bias=True, mlp_bias=True, max_positions=bart.max_positions + 2,
        attention_dropout=bart.attention_dropout, hidden_dropout=bart.dropout, embedding_dropout=bart.dropout)
    vision = config.get("vision_config") or {}
    tower = DavitTower(
        depths=_tuple(_get(vision, "depths", (1, 1, 9, 1))), patch_size=_tuple(_get(vision, "patch_size", (7, 3, 3, 3))),
        patch_stride=_tuple(_get(vision, "patch_stride", (4, 2, 2, 2))),
        patch_padding=_tuple(_get(vision, "patch_padding", (3, 1, 1, 1))),
        patch_prenorm=_tuple(_get(vision, "patch_prenorm", (False, True, True, True))),
        embed_dim=_tuple(_get(vision, "embed_dim", (128, 256, 512, 1024))),
        num_heads=_tuple(_get(vision, "num_heads", (4, 8, 16, 32))),
        num_groups=_tuple(_get(vision, "num_groups", (4, 8, 16, 32))), window_size=int(_get(vision, "window_size", 12)),
        mlp_ratio=float(_get(vision, "mlp_ratio", 4.0)), qkv_bias=bool(_get(vision, "qkv_bias", True)),
        hidden_act=str(_get(vision, "activation_function", "gelu")), in_channels=int(_get(vision, "in_channels", 3)),
        projection_dim=int(_get(vision, "projection_dim", 1024)),
        max_position_embeddings=int(_get(vision, "max_position_embeddings", 50)),
        max_temporal_embeddings=int(_get(vision, "max_temporal_embeddings", 100)),
        drop_path_rate=float(_get(vision, "drop_path_rate", 0.1)))
    return decoder, tower, bart, ()


_READERS = {"merger_vit": _merger_vit, "windowed_merger_vit": _merger_vit, "siglip_pixel_shuffle": _siglip_pixel_shuffle,
            "sam_query_encoder": _sam_query_encoder, "davit_bart": _davit_bart}
"""Tower design (`families.DESIGNS`) -> (decoder shape, tower, BART shape or None, notes) from config.json."""
