"""Every named parameter and every LoRA-adaptable module of a model, from its shape alone.

The names are the ones transformers 5 (or, for DeepSeek-OCR, the model's own remote code) gives
the modules, because PEFT chooses what to adapt by matching those names (`key == target` or
`key.endswith("." + target)`, peft/tuners/tuners_utils.py `check_target_module_exists`). Tied
weights are listed once, as `model.named_parameters()` (and so PEFT) counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

from deepsynth.estimate.architecture import TransformerShape, VisionTower

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
    """Kernel elements (k*k for a Conv2d, t*k*k for a Conv3d)."""
    groups: int = 1
    """Convolution groups (a depthwise convolution has one per channel)."""
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

    def embedding(self, name: str, rows: int, width: int, weight: bool = True) -> None:
        """An nn.Embedding; `weight=False` when its weight is tied to (and counted with) another module."""
        self.modules.append(Module(name, EMBEDDING, rows, width, group=self.group))
        if weight:
            self.param(f"{name}.weight", rows, width)

    def conv2d(self, name: str, in_c: int, out_c: int, kernel: int | tuple[int, ...], bias: bool,
               groups: int = 1) -> None:
        """A Conv2d (kernel k or (k, k)) or Conv3d (kernel (t, k, k)); weight (out, in / groups, *kernel)."""
        area = 1
        for side in (kernel, kernel) if isinstance(kernel, int) else kernel:
            area *= side
        self.modules.append(Module(name, CONV2D, in_c, out_c, bias, kernel_area=area, groups=groups, group=self.group))
        self.param(f"{name}.weight", out_c, in_c // groups, area)
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


def decoder_inventory(shape: TransformerShape, prefix: str = "", *, root: str | None = None,
                      head: str | None = None) -> Inventory:
    """Parameters and adaptable modules of one transformer stack, named as transformers names them.

    A llama-like stack sits at `root` (default `{prefix}model`) with its LM head at `head` (default
    `{prefix}lm_head`): a vision-language model's language model is e.g. `model.language_model` + `lm_head`.
    """
    b = _Builder("decoder")
    if shape.family == "gpt2":
        _gpt2(b, shape, prefix)
    elif shape.family == "bert":
        _bert(b, shape, prefix)
    else:
        _llama_like(b, shape, root or f"{prefix}model", head or f"{prefix}lm_head")
    return b.build()


def _llama_like(b: _Builder, s: TransformerShape, root: str, head: str) -> None:
    h = s.hidden_size
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
    b.linear(head, h, s.vocab_size, False, weight=not s.tie_word_embeddings, quantizable=False)


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
