"""One transformer stack's shape (`TransformerShape`): what parameter counts and activation traces
need of a decoder, an encoder or a language model inside a VLM. Read from config.json by
`architecture.shape_from_config`."""

from __future__ import annotations

from dataclasses import dataclass

DECODER_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gpt2", "qwen2_moe", "deepseek_v2")
ENCODER_FAMILIES = ("bert",)
FAMILIES = DECODER_FAMILIES + ENCODER_FAMILIES


@dataclass(frozen=True)
class TransformerShape:
    """One transformer stack as the parameter count and the activation trace need it."""

    family: str
    """Block type: llama, mistral, qwen2, qwen3, gpt2, qwen2_moe, deepseek_v2 (decoders) or bert."""
    hidden_size: int
    """Width of the residual stream (h)."""
    intermediate_size: int
    """Width of the dense MLP (I); for MoE families, the dense layers' MLP width."""
    num_layers: int
    """Number of transformer blocks (L)."""
    num_heads: int
    """Attention heads for queries."""
    num_kv_heads: int
    """Key/value heads (grouped-query attention when fewer than `num_heads`)."""
    head_dim: int
    """Width of one attention head."""
    vocab_size: int
    """Token vocabulary (V): embedding rows and LM-head columns."""
    tie_word_embeddings: bool = False
    """Whether the LM head shares the input embedding matrix (counted once, as PEFT does)."""
    hidden_act: str = "silu"
    """Activation name as in transformers' ACT2FN (decides which tensors the MLP saves)."""
    qkv_bias: bool = False
    """Bias on the query/key/value projections."""
    o_bias: bool = False
    """Bias on the attention output projection."""
    mlp_bias: bool = False
    """Bias on the MLP projections."""
    qk_norm: bool = False
    """Per-head RMSNorm on queries and keys (Qwen3)."""
    max_positions: int = 0
    """Rows of a learned absolute position embedding (GPT-2, BERT); 0 for rotary models."""
    type_vocab_size: int = 0
    """BERT token-type embedding rows."""
    head: str = "causal_lm"
    """What sits on top: causal_lm (LM head), pooler (BertModel), masked_lm (BertForMaskedLM)."""
    attention_dropout: float = 0.0
    """Dropout on attention probabilities in training."""
    hidden_dropout: float = 0.0
    """Dropout on residual branches (GPT-2 resid_pdrop, BERT hidden_dropout_prob)."""
    embedding_dropout: float = 0.0
    """Dropout after the embeddings (GPT-2 embd_pdrop; BERT uses hidden_dropout_prob)."""
    num_experts: int = 0
    """Routed experts per MoE layer (0: dense model)."""
    experts_per_token: int = 0
    """Routed experts active per token (top-k)."""
    moe_intermediate_size: int = 0
    """Width of one routed expert's MLP."""
    shared_expert_intermediate_size: int = 0
    """Width of the shared expert MLP (all shared experts fused), 0 if none."""
    shared_expert_gate: bool = False
    """Qwen2-MoE's sigmoid gate on the shared expert (a Linear h -> 1)."""
    dense_layers: tuple[int, ...] = ()
    """Indices of layers with a dense MLP in an MoE model."""
    experts_as_modules: bool = False
    """Experts are separate nn.Linear modules (DeepSeek remote code) rather than fused 3-D
    parameters (transformers 5); decides whether target_modules can reach them."""
    q_lora_rank: int = 0
    """Multi-head latent attention (DeepSeek-V2): query compression rank, 0 for a plain q_proj."""
    kv_lora_rank: int = 0
    """Multi-head latent attention: key/value compression rank (0: not MLA)."""
    qk_nope_head_dim: int = 0
    """MLA: query/key head part without rotary embedding."""
    qk_rope_head_dim: int = 0
    """MLA: query/key head part with rotary embedding."""
    v_head_dim: int = 0
    """MLA: value head width."""

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def norm(self) -> str:
        return "layer" if self.family in ("gpt2", "bert") else "rms"

    @property
    def is_encoder(self) -> bool:
        return self.family in ENCODER_FAMILIES

    def is_sparse_layer(self, layer: int) -> bool:
        return self.is_moe and layer not in self.dense_layers

    @property
    def q_width(self) -> int:
        """Width of all query heads together."""
        if self.is_mla:
            return self.num_heads * (self.qk_nope_head_dim + self.qk_rope_head_dim)
        return self.num_heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.num_kv_heads * self.head_dim
