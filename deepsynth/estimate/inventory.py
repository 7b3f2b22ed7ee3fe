"""Every named parameter and every LoRA-adaptable module of a model, from its shape alone.

The names are the ones transformers 5 (or, for DeepSeek-OCR, the model's own remote code) gives
the modules, because PEFT chooses what to adapt by matching those names (`key == target` or
`key.endswith("." + target)`, peft/tuners/tuners_utils.py `check_target_module_exists`). Tied
weights are listed once, as `model.named_parameters()` (and so PEFT) counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

from deepsynth.estimate.architecture import Architecture, TransformerShape

LINEAR, CONV1D, CONV2D, EMBEDDING, EXPERTS = "linear", "conv1d", "conv2d", "embedding", "experts"


@dataclass(frozen=True)
class Module:
    """A module (or fused expert parameter) that LoRA can adapt."""

    name: str
    """Full dotted name in the model."""
    kind: str
    """linear, conv1d (GPT-2), conv2d, embedding, or experts (a fused 3-D expert parameter)."""
    in_features: int
    """Input width (embeddings: number of rows)."""
    out_features: int
    """Output width (embeddings: embedding width)."""
    bias: bool = False
    """Whether the base module has a bias."""
    kernel_area: int = 1
    """k*k for a conv2d."""
    experts: int = 1
    """Experts stacked in a fused parameter."""
    quantizable: bool = False
    """bitsandbytes replaces it when the model loads quantized (Linear layers but the LM head)."""
    group: str = "decoder"
    """decoder, vision or projector."""


@dataclass(frozen=True)
class Parameter:
    """One named parameter tensor."""

    name: str
    numel: int
    group: str = "decoder"
    """decoder, vision or projector."""
    quantized_by: str = ""
    """Name of the quantizable module whose weight this is ('' if it stays in float)."""


@dataclass(frozen=True)
class Inventory:
    parameters: tuple[Parameter, ...]
    modules: tuple[Module, ...]

    @property
    def total(self) -> int:
        return sum(p.numel for p in self.parameters)


class _Builder:
    def __init__(self, group: str, quantize: bool = True) -> None:
        self.group = group
        self.quantize = quantize
        self.parameters: list[Parameter] = []
        self.modules: list[Module] = []

    def param(self, name: str, *shape: int) -> None:
        numel = 1
        for size in shape:
            numel *= size
        self.parameters.append(Parameter(name, numel, self.group))

    def linear(self, name: str, in_f: int, out_f: int, bias: bool, *, kind: str = LINEAR,
               weight: bool = True, quantizable: bool | None = None) -> None:
        quant = self.quantize if quantizable is None else quantizable
        self.modules.append(Module(name, kind, in_f, out_f, bias, quantizable=quant, group=self.group))
        if weight:
            self.parameters.append(Parameter(f"{name}.weight", in_f * out_f, self.group, name if quant else ""))
        if bias:
            self.param(f"{name}.bias", out_f)

    def embedding(self, name: str, rows: int, width: int) -> None:
        self.modules.append(Module(name, EMBEDDING, rows, width, group=self.group))
        self.param(f"{name}.weight", rows, width)

    def conv2d(self, name: str, in_c: int, out_c: int, kernel: int, bias: bool) -> None:
        self.modules.append(Module(name, CONV2D, in_c, out_c, bias, kernel_area=kernel * kernel, group=self.group))
        self.param(f"{name}.weight", out_c, in_c, kernel, kernel)
        if bias:
            self.param(f"{name}.bias", out_c)

    def experts(self, name: str, count: int, in_f: int, out_f: int) -> None:
        self.modules.append(Module(name, EXPERTS, in_f, out_f, experts=count, group=self.group))
        self.param(name, count, out_f, in_f)

    def norm(self, name: str, width: int, bias: bool) -> None:
        self.param(f"{name}.weight", width)
        if bias:
            self.param(f"{name}.bias", width)

    def build(self) -> Inventory:
        return Inventory(tuple(self.parameters), tuple(self.modules))


def decoder_inventory(shape: TransformerShape, prefix: str = "") -> Inventory:
    """Parameters and adaptable modules of one transformer stack, named as transformers names them."""
    b = _Builder("decoder")
    if shape.family == "gpt2":
        _gpt2(b, shape, prefix)
    elif shape.family == "bert":
        _bert(b, shape, prefix)
    else:
        _llama_like(b, shape, prefix)
    return b.build()


def _llama_like(b: _Builder, s: TransformerShape, prefix: str) -> None:
    h = s.hidden_size
    root = f"{prefix}model"
    b.embedding(f"{root}.embed_tokens", s.vocab_size, h)
    for i in range(s.num_layers):
        layer = f"{root}.layers.{i}"
        _attention(b, s, f"{layer}.self_attn")
        mlp = f"{layer}.mlp"
        if s.is_sparse_layer(i):
            b.param(f"{mlp}.gate.weight", s.num_experts, h)  # router: a bare parameter, not an nn.Linear
            if s.experts_as_modules:
                for e in range(s.num_experts):
                    _gated_mlp(b, f"{mlp}.experts.{e}", h, s.moe_intermediate_size, s.mlp_bias)
            else:
                b.experts(f"{mlp}.experts.gate_up_proj", s.num_experts, h, 2 * s.moe_intermediate_size)
                b.experts(f"{mlp}.experts.down_proj", s.num_experts, s.moe_intermediate_size, h)
            if s.shared_expert_intermediate_size:
                shared = f"{mlp}.shared_expert" if s.family == "qwen2_moe" else f"{mlp}.shared_experts"
                _gated_mlp(b, shared, h, s.shared_expert_intermediate_size, s.mlp_bias)
            if s.shared_expert_gate:
                b.linear(f"{mlp}.shared_expert_gate", h, 1, False)
        else:
            _gated_mlp(b, mlp, h, s.intermediate_size, s.mlp_bias)
        b.norm(f"{layer}.input_layernorm", h, False)
        b.norm(f"{layer}.post_attention_layernorm", h, False)
    b.norm(f"{root}.norm", h, False)
    if s.head == "none":  # a bare encoder (e.g. Qwen3Model for embeddings)
        return
    # the LM head stays in float when quantizing (transformers skips the output embedding)
    b.linear(f"{prefix}lm_head", h, s.vocab_size, False, weight=not s.tie_word_embeddings, quantizable=False)


def _attention(b: _Builder, s: TransformerShape, attn: str) -> None:
    h = s.hidden_size
    if s.is_mla:
        qk_head = s.qk_nope_head_dim + s.qk_rope_head_dim
        if s.q_lora_rank:
            b.linear(f"{attn}.q_a_proj", h, s.q_lora_rank, s.qkv_bias)
            b.norm(f"{attn}.q_a_layernorm", s.q_lora_rank, False)
            b.linear(f"{attn}.q_b_proj", s.q_lora_rank, s.num_heads * qk_head, False)
        else:
            b.linear(f"{attn}.q_proj", h, s.num_heads * qk_head, False)
        b.linear(f"{attn}.kv_a_proj_with_mqa", h, s.kv_lora_rank + s.qk_rope_head_dim, s.qkv_bias)
        b.norm(f"{attn}.kv_a_layernorm", s.kv_lora_rank, False)
        b.linear(f"{attn}.kv_b_proj", s.kv_lora_rank, s.num_heads * (s.qk_nope_head_dim + s.v_head_dim), False)
        b.linear(f"{attn}.o_proj", s.num_heads * s.v_head_dim, h, s.o_bias)
        return
    b.linear(f"{attn}.q_proj", h, s.q_width, s.qkv_bias)
    b.linear(f"{attn}.k_proj", h, s.kv_width, s.qkv_bias)
    b.linear(f"{attn}.v_proj", h, s.kv_width, s.qkv_bias)
    b.linear(f"{attn}.o_proj", s.q_width, h, s.o_bias)
    if s.qk_norm:
        b.norm(f"{attn}.q_norm", s.head_dim, False)
        b.norm(f"{attn}.k_norm", s.head_dim, False)


def _gated_mlp(b: _Builder, mlp: str, h: int, width: int, bias: bool) -> None:
    b.linear(f"{mlp}.gate_proj", h, width, bias)
    b.linear(f"{mlp}.up_proj", h, width, bias)
    b.linear(f"{mlp}.down_proj", width, h, bias)


def _gpt2(b: _Builder, s: TransformerShape, prefix: str) -> None:
    h, root = s.hidden_size, f"{prefix}transformer"
    b.embedding(f"{root}.wte", s.vocab_size, h)
    b.embedding(f"{root}.wpe", s.max_positions, h)
    for i in range(s.num_layers):
        layer = f"{root}.h.{i}"
        b.norm(f"{layer}.ln_1", h, True)
        # GPT-2's Conv1D stores weight as (in, out); same count, and bitsandbytes converts it too
        b.linear(f"{layer}.attn.c_attn", h, 3 * h, True, kind=CONV1D)
        b.linear(f"{layer}.attn.c_proj", h, h, True, kind=CONV1D)
        b.norm(f"{layer}.ln_2", h, True)
        b.linear(f"{layer}.mlp.c_fc", h, s.intermediate_size, True, kind=CONV1D)
        b.linear(f"{layer}.mlp.c_proj", s.intermediate_size, h, True, kind=CONV1D)
    b.norm(f"{root}.ln_f", h, True)
    b.linear(f"{prefix}lm_head", h, s.vocab_size, False, weight=not s.tie_word_embeddings, quantizable=False)


def _bert(b: _Builder, s: TransformerShape, prefix: str) -> None:
    h = s.hidden_size
    root = f"{prefix}bert." if s.head == "masked_lm" else prefix
    b.embedding(f"{root}embeddings.word_embeddings", s.vocab_size, h)
    b.embedding(f"{root}embeddings.position_embeddings", s.max_positions, h)
    b.embedding(f"{root}embeddings.token_type_embeddings", s.type_vocab_size, h)
    b.norm(f"{root}embeddings.LayerNorm", h, True)
    for i in range(s.num_layers):
        layer = f"{root}encoder.layer.{i}"
        for proj in ("query", "key", "value"):
            b.linear(f"{layer}.attention.self.{proj}", h, h, True)
        b.linear(f"{layer}.attention.output.dense", h, h, True)
        b.norm(f"{layer}.attention.output.LayerNorm", h, True)
        b.linear(f"{layer}.intermediate.dense", h, s.intermediate_size, True)
        b.linear(f"{layer}.output.dense", s.intermediate_size, h, True)
        b.norm(f"{layer}.output.LayerNorm", h, True)
    if s.head == "pooler":
        b.linear(f"{root}pooler.dense", h, h, True)
    elif s.head == "masked_lm":
        b.linear(f"{prefix}cls.predictions.transform.dense", h, h, True)
        b.norm(f"{prefix}cls.predictions.transform.LayerNorm", h, True)
        b.linear(f"{prefix}cls.predictions.decoder", h, s.vocab_size, False,
                 weight=not s.tie_word_embeddings, quantizable=False)
        b.param(f"{prefix}cls.predictions.bias", s.vocab_size)


def merge(*parts: Inventory) -> Inventory:
    return Inventory(tuple(p for part in parts for p in part.parameters),
                     tuple(m for part in parts for m in part.modules))


def architecture_inventory(arch: Architecture) -> Inventory:
    """The composite model: reader (frozen) + projection + decoder."""
    from deepsynth.estimate.builtin import vision_inventory  # built-in tower specs live there

    parts = []
    if arch.vision is not None:
        parts.append(vision_inventory(arch.vision))
    if arch.projector is not None:
        b = _Builder("projector", quantize=False)
        for name, in_f, out_f, bias in arch.projector.layers():
            b.linear(name, in_f, out_f, bias)
        parts.append(b.build())
    parts.append(decoder_inventory(arch.decoder, arch.decoder_prefix))
    return merge(*parts)
