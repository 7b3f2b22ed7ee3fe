"""Florence-2's language model in training: the BART encoder over image + prompt tokens, the BART
decoder over the summary with cross-attention, the LM head on every decoder position, cross-entropy.

Mirrors transformers 5 `transformers/models/bart/modeling_bart.py` (post-LN layers, learned positions with an
offset of 2, dropout after the embeddings' LayerNorm and on every residual branch) as called by
`Florence2Model.forward`. Module names match `vlm/inventory.py`.
"""

from __future__ import annotations

from deepsynth.estimate.ops import FP32, Ops
from deepsynth.estimate.trace import T
from deepsynth.estimate.vlm.spec import BartShape


def cross_attention(o: Ops, q: T, k: T, v: T, b: int, s_q: int, s_kv: int, heads: int, head_dim: int,
                    dropout: float, causal: bool = False) -> T:
    """SDPA with `s_q` queries over `s_kv` keys; saves what `Ops.attention` saves for equal lengths."""
    if s_q == s_kv:
        return o.attention(q, k, v, b, s_q, heads, heads, head_dim, dropout)
    e = o.e
    out_bytes = b * s_q * heads * head_dim * e
    if o.s.attention != "eager" and not (dropout > 0 and not o.s.cuda):
        lse = o.t.leaf(b * heads * s_q * FP32)
        o.t.op("sdpa_flash", [q, k, v], out_bytes, [q, k, v, lse])
        return o.t.keep_output()
    scores_elems = b * heads * s_q * s_kv
    scores = o.matmul(q, k, scores_elems * e)
    probs = o.t.op("softmax", [scores], scores_elems * (FP32 if o.s.attention == "eager" else e), [])
    o.t.keep_output()
    probs = o.dropout(o.cast(probs, scores_elems, e), scores_elems, dropout)
    out = o.matmul(probs, v, out_bytes)
    return o.t.op("transpose_contiguous", [out], out_bytes, [])


def _attention_block(o: Ops, s: BartShape, x: T, memory: T | None, name: str, b: int, s_q: int, s_kv: int,
                     heads: int) -> T:
    d, hd = s.d_model, s.d_model // heads
    n_q, n_kv = b * s_q, b * s_kv
    source = x if memory is None else memory
    q = o.linear(x, f"{name}.q_proj", n_q, d, d)
    k = o.linear(source, f"{name}.k_proj", n_kv, d, d)
    v = o.linear(source, f"{name}.v_proj", n_kv, d, d)
    out = cross_attention(o, q, k, v, b, s_q, s_kv, heads, hd, s.attention_dropout)
    out = o.linear(out, f"{name}.out_proj", n_q, d, d)
    return o.dropout(out, n_q * d, s.dropout)


def _feed_forward(o: Ops, s: BartShape, x: T, layer: str, n: int, ffn: int) -> T:
    inner = o.activation(o.linear(x, f"{layer}.fc1", n, s.d_model, ffn), n * ffn, s.hidden_act)
    inner = o.dropout(inner, n * ffn, s.activation_dropout)
    return o.dropout(o.linear(inner, f"{layer}.fc2", n, ffn, s.d_model), n * s.d_model, s.dropout)


def _embed(o: Ops, s: BartShape, x: T, base: str, b: int, length: int) -> T:
    """+ learned positions, LayerNorm, dropout (BartEncoder / BartDecoder embedding tail)."""
    n, d = b * length, s.d_model
    x = o.add(x, o.embedding(f"{base}.embed_positions", n, d))
    x = o.layer_norm(x, n, d, f"{base}.layernorm_embedding")
    return o.dropout(x, n * d, s.dropout)


def encoder(o: Ops, s: BartShape, x: T, root: str, b: int, length: int, checkpointing: bool) -> T:
    """BartEncoder on `inputs_embeds` (image features already scattered in)."""
    n, d, base = b * length, s.d_model, f"{root}.encoder"
    x = _embed(o, s, x, base, b, length)
    for i in range(s.encoder_layers):
        layer = f"{base}.layers.{i}"
        o.t.begin_segment(checkpointing, x)
        x = o.layer_norm(o.add(x, _attention_block(o, s, x, None, f"{layer}.self_attn", b, length, length,
                                                   s.encoder_heads)), n, d, f"{layer}.self_attn_layer_norm")
        x = o.layer_norm(o.add(x, _feed_forward(o, s, x, layer, n, s.encoder_ffn)), n, d, f"{layer}.final_layer_norm")
        o.t.end_segment()
    return x


def decoder(o: Ops, s: BartShape, memory: T, root: str, b: int, length: int, memory_length: int,
            checkpointing: bool) -> T:
    """BartDecoder over `length` summary tokens, cross-attending to the encoder's `memory`."""
    n, d, base = b * length, s.d_model, f"{root}.decoder"
    x = o.embedding(f"{base}.embed_tokens", n, d)
    x = o.t.op("mul_scalar", [x], x.nbytes, [], alias_grad=True)  # BartScaledWordEmbedding: * embed_scale
    x = _embed(o, s, x, base, b, length)
    if checkpointing and not x.requires_grad:
        x.requires_grad = True
    for i in range(s.decoder_layers):
        layer = f"{base}.layers.{i}"
        o.t.begin_segment(checkpointing, x)
        x = o.layer_norm(o.add(x, _attention_block(o, s, x, None, f"{layer}.self_attn", b, length, length,
                                                   s.decoder_heads)), n, d, f"{layer}.self_attn_layer_norm")
        x = o.layer_norm(o.add(x, _attention_block(o, s, x, memory, f"{layer}.encoder_attn", b, length,
                                                   memory_length, s.decoder_heads)),
                         n, d, f"{layer}.encoder_attn_layer_norm")
        x = o.layer_norm(o.add(x, _feed_forward(o, s, x, layer, n, s.decoder_ffn)), n, d, f"{layer}.final_layer_norm")
        o.t.end_segment()
    return x


def summary_loss(o: Ops, s: BartShape, x: T, b: int, length: int) -> T:
    """Every decoder position predicts the next summary token: LM head on all of them, cross-entropy."""
    n = b * length
    logits = o.linear(x, "lm_head", n, s.d_model, s.vocab_size)
    return o.cross_entropy(logits, n, s.vocab_size)
