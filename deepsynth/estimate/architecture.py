"""The numbers that decide what a model costs: its shape, read from a Hugging Face `config.json`.

`TransformerShape` is one transformer stack (decoder, encoder or text encoder); `Architecture` is a
whole document model: an optional frozen page reader (`VisionTower`), an optional trainable
projection into the decoder's embedding space, and the decoder. Nothing here imports torch: the
estimator must answer before anything heavy loads.

Family defaults below are the defaults of the transformers 5.x config classes (a key missing from
`config.json` takes the class default); `tests/estimate/test_estimate_architecture.py` checks them against
transformers itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepsynth.errors import InputError
from deepsynth.estimate.shapes import FAMILIES, TransformerShape

if TYPE_CHECKING:
    from deepsynth.estimate.vlm.spec import VisionLanguage
    from deepsynth.estimate.vlm.structure import VlmStructure

@dataclass(frozen=True)
class VisionTower:
    """A frozen page reader in front of the decoder (its parameters come from a built-in spec)."""

    kind: str
    """easyocr_g2 (EasyOCR english_g2 CRNN) or deepencoder (DeepSeek-OCR SAM-base + CLIP-large)."""
    output_dim: int
    """Width of the features handed to the projection."""
    tokens_per_page: int
    """Vision tokens one page yields by default (DeepSeek-OCR base mode: 256 per 1024x1024 page)."""


@dataclass(frozen=True)
class Projector:
    """Trainable map from reader features to decoder embeddings (DeepSynth's `parts["vision"]`)."""

    in_features: int
    """Feature width coming in."""
    out_features: int
    """Decoder hidden size going out."""
    kind: str = "linear"
    """linear (one Linear), mlp (Linear -> GELU -> Linear, LLaVA-1.5 shape) or soft_characters
    (the reader's CTC head -> softmax -> character embeddings, DeepSynth's default init)."""
    hidden: int = 0
    """soft_characters: CTC classes between the two layers."""
    trainable: bool = True
    """DeepSynth trains the projection next to the LoRA adapters."""
    name: str = "projector"
    """Module name in the composite model."""

    def layers(self) -> tuple[tuple[str, int, int, bool], ...]:
        """(name, in, out, bias) of its Linear layers, in order."""
        if self.kind == "mlp":
            return ((f"{self.name}.net.0", self.in_features, self.out_features, True),
                    (f"{self.name}.net.2", self.out_features, self.out_features, True))
        if self.kind == "soft_characters":
            return ((f"{self.name}.head", self.in_features, self.hidden, True),
                    (f"{self.name}.characters", self.hidden, self.out_features, False))
        return ((self.name, self.in_features, self.out_features, True),)


@dataclass(frozen=True)
class Architecture:
    """A whole document-reading model: optional reader + projection, and the decoder."""

    name: str
    """Display name (built-in name or the config path)."""
    decoder: TransformerShape
    """The language model that LoRA adapts."""
    vision: VisionTower | None = None
    """Frozen page reader, if the model contains one."""
    projector: Projector | None = None
    """Projection from reader features to the decoder (only with a feature interface)."""
    decoder_prefix: str = ""
    """Prefix of the decoder's module names inside the composite (e.g. `decoder.`)."""
    source: str = ""
    """Where the numbers came from (a file, or a citation for built-in specs)."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Assumptions worth showing next to the estimate."""
    vlm: VisionLanguage | None = None
    """A native vision-language model's tower, projector and image processing (`decoder` is then its
    language model; for Florence-2 the BART decoder, with the whole encoder-decoder in `vlm.bart`)."""
    structure: VlmStructure | None = None
    """A vision-language model the estimator describes from its structure (`estimate/vlm/structure.py`:
    built on the meta device) rather than from a family description; `decoder` is then its language
    model's shape as far as config.json tells it (used for display and the time prediction only)."""

    @property
    def native_vlm(self) -> bool:
        """A vision-language model that reads pages with its own tower (either description)."""
        return self.vlm is not None or self.structure is not None


def _get(config: dict[str, Any], key: str, default: Any) -> Any:
    value = config.get(key, default)
    return default if value is None else value


def shape_from_config(config: dict[str, Any], where: str = "config.json") -> TransformerShape:
    """Read a `TransformerShape` from a Hugging Face config dict (missing keys: class defaults)."""
    family = config.get("model_type")
    if family == "deepseek_vl_v2" and isinstance(config.get("language_config"), dict):
        raise InputError(f"{where}: DeepSeek-OCR's composite config; use `--model deepseek-ocr` (built-in spec)")
    if family not in FAMILIES:
        raise InputError(f"{where}: model_type {family!r} is not supported; supported: {', '.join(FAMILIES)}")
    if family == "gpt2":
        return _gpt2_shape(config)
    if family == "bert":
        return _bert_shape(config)
    defaults = _DECODER_DEFAULTS[family]
    hidden = int(_get(config, "hidden_size", defaults["hidden_size"]))
    heads = int(_get(config, "num_attention_heads", defaults["num_attention_heads"]))
    kv_heads = int(_get(config, "num_key_value_heads", defaults.get("num_key_value_heads", heads)))
    head_dim = int(_get(config, "head_dim", defaults.get("head_dim") or hidden // heads))
    common: dict[str, Any] = dict(
        family=family,
        hidden_size=hidden,
        intermediate_size=int(_get(config, "intermediate_size", defaults["intermediate_size"])),
        num_layers=int(_get(config, "num_hidden_layers", defaults["num_hidden_layers"])),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=int(_get(config, "vocab_size", defaults["vocab_size"])),
        tie_word_embeddings=bool(_get(config, "tie_word_embeddings", False)),
        hidden_act=str(_get(config, "hidden_act", "silu")),
        attention_dropout=float(_get(config, "attention_dropout", 0.0)),
    )
    attention_bias = bool(_get(config, "attention_bias", False))
    if family == "llama":
        common.update(qkv_bias=attention_bias, o_bias=attention_bias, mlp_bias=bool(_get(config, "mlp_bias", False)))
    elif family == "qwen2":
        common.update(qkv_bias=True)  # Qwen2Attention: bias=True on q/k/v, none on o_proj
    elif family == "qwen3":
        common.update(qkv_bias=attention_bias, o_bias=attention_bias, qk_norm=True)
    elif family == "qwen2_moe":
        layers = common["num_layers"]
        step = int(_get(config, "decoder_sparse_step", 1))
        mlp_only = set(_get(config, "mlp_only_layers", []))
        # Qwen2MoeDecoderLayer: sparse iff not in mlp_only_layers and (layer + 1) % step == 0
        dense = tuple(i for i in range(layers) if i in mlp_only or not (step > 0 and (i + 1) % step == 0))
        common.update(
            qkv_bias=bool(_get(config, "qkv_bias", True)),
            num_experts=int(_get(config, "num_experts", 60)),
            experts_per_token=int(_get(config, "num_experts_per_tok", 4)),
            moe_intermediate_size=int(_get(config, "moe_intermediate_size", 1408)),
            shared_expert_intermediate_size=int(_get(config, "shared_expert_intermediate_size", 5632)),
            shared_expert_gate=True,
            dense_layers=dense,
        )
    elif family == "deepseek_v2":
        first_dense = int(_get(config, "first_k_dense_replace", 0))
        moe_width = int(_get(config, "moe_intermediate_size", 1407))
        common.update(
            qkv_bias=attention_bias, o_bias=attention_bias, mlp_bias=bool(_get(config, "mlp_bias", False)),
            num_experts=int(_get(config, "n_routed_experts", 64)),
            experts_per_token=int(_get(config, "num_experts_per_tok", 0) or 0),
            moe_intermediate_size=moe_width,
            shared_expert_intermediate_size=moe_width * int(_get(config, "n_shared_experts", 2)),
            dense_layers=tuple(range(min(first_dense, common["num_layers"]))),
            q_lora_rank=int(config.get("q_lora_rank", 1536) or 0),
            kv_lora_rank=int(_get(config, "kv_lora_rank", 512)),
            qk_nope_head_dim=int(_get(config, "qk_nope_head_dim", 128)),
            qk_rope_head_dim=int(_get(config, "qk_rope_head_dim", 64)),
            v_head_dim=int(_get(config, "v_head_dim", 128)),
        )
        common["head_dim"] = common["qk_rope_head_dim"]  # transformers sets head_dim = qk_rope_head_dim
    return TransformerShape(**common)


# transformers 5.x config-class defaults for the keys we read (checked by a test against transformers)
_DECODER_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                  vocab_size=32000),
    "mistral": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                    num_key_value_heads=8, vocab_size=32000),
    "qwen2": dict(hidden_size=4096, intermediate_size=22016, num_hidden_layers=32, num_attention_heads=32,
                  vocab_size=151936),
    "qwen3": dict(hidden_size=4096, intermediate_size=22016, num_hidden_layers=32, num_attention_heads=32,
                  vocab_size=151936, head_dim=128),
    "qwen2_moe": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=24, num_attention_heads=16,
                      vocab_size=151936),
    "deepseek_v2": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                        vocab_size=102400),
}


def _gpt2_shape(config: dict[str, Any]) -> TransformerShape:
    hidden = int(_get(config, "n_embd", 768))
    heads = int(_get(config, "n_head", 12))
    return TransformerShape(
        family="gpt2", hidden_size=hidden, intermediate_size=int(_get(config, "n_inner", 4 * hidden)),
        num_layers=int(_get(config, "n_layer", 12)), num_heads=heads, num_kv_heads=heads,
        head_dim=hidden // heads, vocab_size=int(_get(config, "vocab_size", 50257)),
        tie_word_embeddings=bool(_get(config, "tie_word_embeddings", True)),
        hidden_act=str(_get(config, "activation_function", "gelu_new")),
        qkv_bias=True, o_bias=True, mlp_bias=True,
        max_positions=int(_get(config, "n_positions", 1024)),
        attention_dropout=float(_get(config, "attn_pdrop", 0.1)),
        hidden_dropout=float(_get(config, "resid_pdrop", 0.1)),
        embedding_dropout=float(_get(config, "embd_pdrop", 0.1)),
    )


def _bert_shape(config: dict[str, Any]) -> TransformerShape:
    hidden = int(_get(config, "hidden_size", 768))
    heads = int(_get(config, "num_attention_heads", 12))
    architectures = config.get("architectures") or ["BertModel"]
    head = "masked_lm" if "BertForMaskedLM" in architectures else "pooler"
    hidden_dropout = float(_get(config, "hidden_dropout_prob", 0.1))
    return TransformerShape(
        family="bert", hidden_size=hidden, intermediate_size=int(_get(config, "intermediate_size", 3072)),
        num_layers=int(_get(config, "num_hidden_layers", 12)), num_heads=heads, num_kv_heads=heads,
        head_dim=hidden // heads, vocab_size=int(_get(config, "vocab_size", 30522)),
        tie_word_embeddings=bool(_get(config, "tie_word_embeddings", True)),
        hidden_act=str(_get(config, "hidden_act", "gelu")),
        qkv_bias=True, o_bias=True, mlp_bias=True,
        max_positions=int(_get(config, "max_position_embeddings", 512)),
        type_vocab_size=int(_get(config, "type_vocab_size", 2)), head=head,
        attention_dropout=float(_get(config, "attention_probs_dropout_prob", 0.1)),
        hidden_dropout=hidden_dropout, embedding_dropout=hidden_dropout,
    )


def read_config(path: str | Path) -> tuple[dict[str, Any], Path]:
    """Load `config.json` from a file or a model directory; errors say which file and where."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"{file}: no such config file (give a config.json or a model directory)")
    return read_json_object(file), file


def read_json_object(file: Path) -> dict[str, Any]:
    """A JSON file whose top level is an object (config.json, a processor's config); `InputError`
    naming the file, line and column otherwise."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{file}, line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise InputError(f"{file}: expected a JSON object at the top level")
    return data
