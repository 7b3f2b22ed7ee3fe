"""One training step of each block type, written as the ops it runs (see `ops.Ops`).

The decoder step is DeepSynth's: embeddings (plus projected page features in front), every layer,
the final norm, the hidden states at the target (summary) positions only, the LM head on those,
and cross-entropy. Module names match `inventory.py`, so LoRA lands where PEFT puts it.
"""

from __future__ import annotations

from deepsynth.estimate.architecture import TransformerShape
from deepsynth.estimate.ops import FP32, INDEX, Ops
from deepsynth.estimate.trace import T


def decoder_step(o: Ops, shape: TransformerShape, b: int, text_tokens: int, targets: int,
                 *, prefix: str = "", front: T | None = None, front_tokens: int = 0,
                 checkpointing: bool = False) -> T:
    """Forward of the decoder + loss on `targets` positions per sample; returns the loss."""
    e, h = o.e, shape.hidden_size
    s = text_tokens + front_tokens
    n = b * s
    root = f"{prefix}transformer" if shape.family == "gpt2" else f"{prefix}model"
    embed = f"{root}.wte" if shape.family == "gpt2" else f"{root}.embed_tokens"
    x = o.embedding(embed, b * text_tokens, h)
    if front is not None:
        x = o.t.op("cat", [front, x], n * h * e, [])
    if checkpointing and not x.requires_grad:
        x.requires_grad = True  # enable_input_require_grads(): checkpointed layers need a grad input
    if shape.family == "gpt2":
        x = o.add(x, o.embedding(f"{root}.wpe", n, h))
        x = o.dropout(x, n * h, shape.embedding_dropout)
    x = decoder_layers(o, shape, x, b, s, root, checkpointing=checkpointing)
    return lm_loss(o, shape, x, b, s, targets, f"{prefix}lm_head")


def decoder_layers(o: Ops, shape: TransformerShape, x: T, b: int, s: int, root: str, *,
                   checkpointing: bool = False, rope_rows: int = 1) -> T:
    """Every layer of a decoder stack at `root`, then its final norm; returns the normed states.

    `rope_rows`: batch rows of the rotary tables (1 when positions are shared; Qwen2-VL's 3-D
    positions give one table per sample)."""
    e, h, n = o.e, shape.hidden_size, b * s
    cos = o.t.leaf(rope_rows * s * shape.head_dim * e, name="cos")  # rotary tables, computed once per forward
    sin = o.t.leaf(rope_rows * s * shape.head_dim * e, name="sin")
    for i in range(shape.num_layers):
        o.t.begin_segment(checkpointing, x)
        if shape.family == "gpt2":
            x = gpt2_layer(o, shape, x, f"{root}.h.{i}", b, s)
        else:
            x = llama_layer(o, shape, x, f"{root}.layers.{i}", i, b, s, cos, sin)
        o.t.end_segment()
    if shape.family == "gpt2":
        return o.layer_norm(x, n, h)
    return o.rms_norm(x, n, h, f"{root}.norm")


def lm_loss(o: Ops, shape: TransformerShape, x: T, b: int, s: int, targets: int, head: str) -> T:
    """Hidden states at the `targets` positions per sample, the LM head on those, cross-entropy."""
    h = shape.hidden_size
    selected = o.select(x, b * targets, h, b * s)
    logits = o.linear(selected, head, b * targets, h, shape.vocab_size)
    return o.cross_entropy(logits, b * targets, shape.vocab_size)


def llama_layer(o: Ops, shape: TransformerShape, x: T, layer: str, index: int, b: int, s: int,
                cos: T, sin: T) -> T:
    n, h = b * s, shape.hidden_size
    normed = o.rms_norm(x, n, h, f"{layer}.input_layernorm")
    if shape.is_mla:
        attn = mla_attention(o, shape, normed, f"{layer}.self_attn", b, s, cos, sin)
    else:
        attn = attention(o, shape, normed, f"{layer}.self_attn", b, s, cos, sin)
    x = o.add(x, attn)
    normed = o.rms_norm(x, n, h, f"{layer}.post_attention_layernorm")
    if shape.is_sparse_layer(index):
        out = moe(o, shape, normed, f"{layer}.mlp", n)
    else:
        out = gated_mlp(o, normed, f"{layer}.mlp", n, h, shape.intermediate_size, shape.hidden_act)
    return o.add(x, out)


def attention(o: Ops, shape: TransformerShape, x: T, attn: str, b: int, s: int, cos: T, sin: T) -> T:
    n, h, hd = b * s, shape.hidden_size, shape.head_dim
    q = o.linear(x, f"{attn}.q_proj", n, h, shape.q_width)
    k = o.linear(x, f"{attn}.k_proj", n, h, shape.kv_width)
    v = o.linear(x, f"{attn}.v_proj", n, h, shape.kv_width)
    if shape.qk_norm:  # Qwen3: RMSNorm over each head
        q = o.rms_norm(q, n * shape.num_heads, hd, f"{attn}.q_norm")
        k = o.rms_norm(k, n * shape.num_kv_heads, hd, f"{attn}.k_norm")
    q, k = o.rope(q, cos, sin), o.rope(k, cos, sin)
    out = o.attention(q, k, v, b, s, shape.num_heads, shape.num_kv_heads, hd, shape.attention_dropout)
    return o.linear(out, f"{attn}.o_proj", n, shape.q_width, h)


def mla_attention(o: Ops, shape: TransformerShape, x: T, attn: str, b: int, s: int, cos: T, sin: T) -> T:
    """DeepSeek-V2 multi-head latent attention (transformers 5), compressed q and kv paths."""
    n, h, e, heads = b * s, shape.hidden_size, o.e, shape.num_heads
    qk_head = shape.qk_nope_head_dim + shape.qk_rope_head_dim
    if shape.q_lora_rank:
        qa = o.linear(x, f"{attn}.q_a_proj", n, h, shape.q_lora_rank)
        qa = o.rms_norm(qa, n, shape.q_lora_rank, f"{attn}.q_a_layernorm")
        q = o.linear(qa, f"{attn}.q_b_proj", n, shape.q_lora_rank, heads * qk_head)
    else:
        q = o.linear(x, f"{attn}.q_proj", n, h, heads * qk_head)
    kv_a = o.linear(x, f"{attn}.kv_a_proj_with_mqa", n, h, shape.kv_lora_rank + shape.qk_rope_head_dim)
    latent = o.rms_norm(kv_a, n, shape.kv_lora_rank, f"{attn}.kv_a_layernorm")
    kv = o.linear(latent, f"{attn}.kv_b_proj", n, shape.kv_lora_rank,
                  heads * (shape.qk_nope_head_dim + shape.v_head_dim))
    q = o.t.op("rope_cat", [q], n * heads * qk_head * e, [cos, sin])
    k = o.t.op("rope_cat", [kv, kv_a], n * heads * qk_head * e, [cos, sin])
    out = o.attention(q, k, kv, b, s, heads, heads, qk_head, shape.attention_dropout, v_dim=shape.v_head_dim)
    return o.linear(out, f"{attn}.o_proj", n, heads * shape.v_head_dim, h)


def gated_mlp(o: Ops, x: T, mlp: str, n: int, h: int, width: int, act: str) -> T:
    """down(act(gate(x)) * up(x)): the activation saves gate's output, the product both factors."""
    gate = o.linear(x, f"{mlp}.gate_proj", n, h, width)
    up = o.linear(x, f"{mlp}.up_proj", n, h, width)
    return o.linear(o.mul(o.activation(gate, n * width, act), up), f"{mlp}.down_proj", n, width, h)


def moe(o: Ops, shape: TransformerShape, x: T, mlp: str, n: int) -> T:
    """Routed experts (top-k of E) + shared experts; tokens x k flow through the expert MLPs."""
    e, h, k, width = o.e, shape.hidden_size, shape.experts_per_token, shape.moe_intermediate_size
    routed = n * k
    shared = None
    shared_name = f"{mlp}.shared_expert" if shape.family == "qwen2_moe" else f"{mlp}.shared_experts"
    if shape.family == "qwen2_moe" and shape.shared_expert_intermediate_size:
        # Qwen2MoeSparseMoeBlock runs the shared expert first (backward order depends on it)
        shared = gated_mlp(o, x, shared_name, n, h, shape.shared_expert_intermediate_size, shape.hidden_act)
    # router: linear on frozen weights, softmax in fp32 (saves probs), top-k (saves indices)
    logits = o.t.op("router", [o.cast(x, n * h, FP32) if shape.experts_as_modules else x], n * shape.num_experts * FP32, [])
    o.t.op("softmax", [logits], logits.nbytes, [])
    probs = o.t.keep_output()
    weights = o.t.op("topk", [probs], routed * FP32, [o.t.leaf(routed * INDEX)])
    weights = o.cast(weights, routed, e)
    if shape.experts_as_modules:
        # DeepSeek remote code, training path: repeat_interleave, x[mask] per expert, y[mask] = out
        repeated = o.t.op("repeat_interleave", [x], routed * h * e, [o.t.leaf(routed * INDEX)])
        chosen = o.t.op("index", [repeated], routed * h * e, [o.t.leaf(routed * INDEX)])
        expert = gated_mlp(o, chosen, f"{mlp}.experts.0", routed, h, width, shape.hidden_act)
        y = o.t.op("index_put", [expert], routed * h * e, [o.t.leaf(routed * INDEX)])
    else:
        # transformers 5 grouped_mm experts: tokens sorted by expert, gate_up (chunked views),
        # act * up, down, * routing weight, back to token order, summed over the k choices
        chosen = o.t.op("index", [x], routed * h * e, [o.t.leaf(routed * INDEX)])
        y = _fused_experts(o, shape, chosen, mlp, routed)
    weighted = o.mul(y, weights)
    unsorted = o.t.op("index", [weighted], routed * h * e, [o.t.leaf(routed * INDEX)])
    routed_out = o.t.op("sum_k", [unsorted], n * h * e, [])
    o.t.ops[-1].backward_workspace = routed * h * e  # the expanded gradient is cloned by view()
    if shape.shared_expert_intermediate_size:
        if shared is None:  # DeepSeek: shared experts after the routed ones
            shared = gated_mlp(o, x, shared_name, n, h, shape.shared_expert_intermediate_size, shape.hidden_act)
        if shape.shared_expert_gate:  # sigmoid(Linear(h -> 1)) * shared: sigmoid saves its output
            gate = o.linear(x, f"{mlp}.shared_expert_gate", n, h, 1)
            o.t.op("sigmoid", [gate], gate.nbytes, [])
            gate = o.t.keep_output()
            shared = o.mul(gate, shared, n * h * e)
        routed_out = o.add(routed_out, shared)
    return routed_out


def _fused_experts(o: Ops, shape: TransformerShape, x: T, mlp: str, routed: int) -> T:
    e, h, width = o.e, shape.hidden_size, shape.moe_intermediate_size
    adapted = {name for name in o.s.adapters if name.startswith(f"{mlp}.experts.")}
    # LoRA on a fused expert parameter (PEFT ParamWrapper) materialises W + delta for every expert,
    # so the weight needs a gradient and the matmul keeps its input
    up_name, down_name = f"{mlp}.experts.gate_up_proj", f"{mlp}.experts.down_proj"
    gate_up = o.t.op("expert_linear", [x], routed * 2 * width * e, [x] if up_name in adapted else [],
                     requires_grad=x.requires_grad or up_name in adapted,
                     workspace=shape.num_experts * 2 * width * h * e if up_name in adapted else 0)
    # the activation reads the gate half (a view: it keeps the whole gate_up storage alive)
    act = o.t.op(shape.hidden_act, [gate_up], routed * width * e, [gate_up])
    product = o.mul(act, gate_up, routed * width * e)
    return o.t.op("expert_linear", [product], routed * h * e, [product] if down_name in adapted else [],
                  requires_grad=product.requires_grad or down_name in adapted,
                  workspace=shape.num_experts * width * h * e if down_name in adapted else 0)


def gpt2_layer(o: Ops, shape: TransformerShape, x: T, layer: str, b: int, s: int) -> T:
    n, h = b * s, shape.hidden_size
    qkv = o.linear(o.layer_norm(x, n, h), f"{layer}.attn.c_attn", n, h, 3 * h)
    attn = o.attention(qkv, qkv, qkv, b, s, shape.num_heads, shape.num_heads, shape.head_dim,
                       shape.attention_dropout)
    attn = o.dropout(o.linear(attn, f"{layer}.attn.c_proj", n, h, h), n * h, shape.hidden_dropout)
    x = o.add(x, attn)
    fc = o.linear(o.layer_norm(x, n, h), f"{layer}.mlp.c_fc", n, h, shape.intermediate_size)
    act = o.activation(fc, n * shape.intermediate_size, shape.hidden_act)
    out = o.linear(act, f"{layer}.mlp.c_proj", n, shape.intermediate_size, h)
    return o.add(x, o.dropout(out, n * h, shape.hidden_dropout))


def encoder_forward(o: Ops, shape: TransformerShape, b: int, s: int, prefix: str = "") -> T:
    """A text encoder (BERT or a Qwen3 embedding model) over `s` tokens; returns its token states."""
    n, h, e = b * s, shape.hidden_size, o.e
    if shape.family == "bert":
        root = prefix
        x = o.embedding(f"{root}embeddings.word_embeddings", n, h)
        x = o.add(x, o.embedding(f"{root}embeddings.position_embeddings", n, h))
        x = o.dropout(o.layer_norm(x, n, h), n * h, shape.embedding_dropout)
        for i in range(shape.num_layers):
            x = bert_layer(o, shape, x, f"{root}encoder.layer.{i}", b, s)
    else:
        cos = o.t.leaf(s * shape.head_dim * e)
        sin = o.t.leaf(s * shape.head_dim * e)
        x = o.embedding(f"{prefix}model.embed_tokens", n, h)
        for i in range(shape.num_layers):
            x = llama_layer(o, shape, x, f"{prefix}model.layers.{i}", i, b, s, cos, sin)
        x = o.rms_norm(x, n, h, f"{prefix}model.norm")
    return x


def bert_layer(o: Ops, shape: TransformerShape, x: T, layer: str, b: int, s: int) -> T:
    n, h = b * s, shape.hidden_size
    q = o.linear(x, f"{layer}.attention.self.query", n, h, h)
    k = o.linear(x, f"{layer}.attention.self.key", n, h, h)
    v = o.linear(x, f"{layer}.attention.self.value", n, h, h)
    attn = o.attention(q, k, v, b, s, shape.num_heads, shape.num_heads, shape.head_dim, shape.attention_dropout)
    attn = o.dropout(o.linear(attn, f"{layer}.attention.output.dense", n, h, h), n * h, shape.hidden_dropout)
    x = o.layer_norm(o.add(attn, x), n, h)
    inner = o.linear(x, f"{layer}.intermediate.dense", n, h, shape.intermediate_size)
    inner = o.activation(inner, n * shape.intermediate_size, shape.hidden_act)
    out = o.dropout(o.linear(inner, f"{layer}.output.dense", n, shape.intermediate_size, h), n * h,
                    shape.hidden_dropout)
    return o.layer_norm(o.add(out, x), n, h)
