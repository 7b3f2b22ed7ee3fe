"""The ops each block runs in training, written out for the trace (`trace.py`).

Each helper mirrors the code that really runs (transformers 5.x modeling files, PEFT 0.21
`lora/layer.py` and `lora/bnb.py`, bitsandbytes 0.50 autograd functions) and states what
autograd keeps. Sizes: `n` tokens of width `w` at `e` bytes per element.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deepsynth.estimate.trace import T, Trace

FP32 = 4
INDEX = 8  # int64 indices


@dataclass
class Settings:
    """What decides the saved tensors besides the shapes."""

    act_bytes: int = 4
    """Activation element size: 4 (fp32, CPU training), 2 (bf16/fp16)."""
    mask_bytes: int = 4
    """Dropout keeps a float noise tensor on CPU (aten `_dropout_impl`), a bool mask on CUDA."""
    adapter_bytes: int = 4
    """LoRA weights are fp32 (PEFT `autocast_adapter_dtype`), so the branch runs on an fp32 copy."""
    adapters: dict[str, int] = field(default_factory=dict)
    """Adapted module name -> rank."""
    lora_dropout: float = 0.0
    trainable: set[str] = field(default_factory=set)
    """Modules whose own weights train (projection, full fine-tuning)."""
    quantization: str = "none"
    """none, nf4, fp4 or int8: how Linear layers run (bitsandbytes)."""
    quantized: set[str] = field(default_factory=set)
    """Module names stored quantized."""
    compute_bytes: int = 4
    """Element size of the bitsandbytes compute dtype."""
    attention: str = "sdpa"
    """sdpa (flash kernel when possible) or eager."""
    cuda: bool = False
    padded: bool = False
    """An attention mask is passed (padded batch): SDPA repeats k/v heads and keeps the mask."""


class Ops:
    """Primitive ops with their saved-tensor rules, on one trace."""

    def __init__(self, trace: Trace, settings: Settings) -> None:
        self.t = trace
        self.s = settings
        self.e = settings.act_bytes

    # elementwise -----------------------------------------------------------------------------
    def mul(self, a: T, b: T | None, out_bytes: int | None = None) -> T:
        """a * b: each input needing a gradient saves the other (b None: scalar or frozen weight)."""
        saved = [b if a.requires_grad else None, a if (b is not None and b.requires_grad) else None]
        out = self.t.op("mul", [a, b], out_bytes or a.nbytes, saved)
        small = [t for t in (a, b) if t is not None and t.requires_grad and t.nbytes < out.nbytes]
        if small:  # grad of a broadcast factor = sum(grad * other): a full-size product first
            self.t.ops[-1].backward_workspace = out.nbytes
        return out

    def matmul(self, a: T, b: T, out_bytes: int) -> T:
        """a @ b between activations: like mul, each side needing a gradient keeps the other."""
        return self.t.op("matmul", [a, b], out_bytes, [b if a.requires_grad else None, a if b.requires_grad else None])

    def add(self, a: T, b: T | None) -> T:
        return self.t.op("add", [a, b], max(a.nbytes, b.nbytes if b else 0), [], alias_grad=True)

    def cast(self, x: T, elems: int, to_bytes: int) -> T:
        """`.to(dtype)`: the same tensor when the dtype already matches."""
        if x.nbytes == elems * to_bytes:
            return x
        return self.t.op("to", [x], elems * to_bytes, [])

    def activation(self, x: T, elems: int, kind: str) -> T:
        if kind in ("gelu_new", "gelu_fast", "gelu_accurate"):
            # NewGELUActivation, python: 0.5*x*(1+tanh(c*(x+0.044715*x**3))): pow saves x, tanh its
            # output, the final mul both factors -> x, tanh, 0.5x, 1+tanh
            e = x.nbytes // max(elems, 1)
            cube = self.t.op("pow", [x], elems * e, [x])
            inner = self.t.op("add", [x, cube], elems * e, [], alias_grad=True)
            self.t.op("tanh", [inner], elems * e, [])
            tanh = self.t.keep_output()
            half = self.t.op("mul_scalar", [x], elems * e, [])
            one_plus = self.t.op("add_scalar", [tanh], elems * e, [], alias_grad=True)
            return self.mul(half, one_plus)
        if kind in ("relu",):
            self.t.op(kind, [x], x.nbytes, [])
            return self.t.keep_output()
        # silu, gelu (erf or tanh, native kernels), quick_gelu approximated: save the input
        return self.t.op(kind, [x], x.nbytes, [x])

    def dropout(self, x: T, elems: int, p: float) -> T:
        """Training dropout keeps its noise/mask; p == 0 returns the input itself (aten dropout)."""
        if p <= 0:
            return x
        noise = self.t.leaf(elems * self.s.mask_bytes, name="dropout mask")
        return self.t.op("dropout", [x], x.nbytes, [noise])

    # norms -----------------------------------------------------------------------------------
    def rms_norm(self, x: T, n: int, width: int, name: str = "") -> T:
        """transformers RMSNorm: fp32 upcast, pow, mean, rsqrt, mul, downcast, weight * x."""
        x32 = self.cast(x, n * width, FP32)
        squared = self.t.op("pow", [x32], n * width * FP32, [x32])
        variance = self.t.op("mean", [squared], n * FP32, [])
        self.t.op("rsqrt", [variance], n * FP32, [])
        inv = self.t.keep_output()
        normed = self.mul(x32, inv, n * width * FP32)
        normed = self.cast(normed, n * width, self.e)
        weight = self.t.leaf(0, requires_grad=name in self.s.trainable)
        return self.mul(weight, normed, n * width * self.e) if weight.requires_grad else \
            self.t.op("mul", [normed], n * width * self.e, [])

    def layer_norm(self, x: T, n: int, width: int, name: str = "") -> T:
        """aten native_layer_norm: saves input, mean and rstd (fp32, one per row); its output needs a
        gradient when the input does or when its own weights train (`name` in `trainable`)."""
        mean = self.t.leaf(n * FP32)
        rstd = self.t.leaf(n * FP32)
        return self.t.op("layer_norm", [x], x.nbytes, [x, mean, rstd],
                         requires_grad=x.requires_grad or name in self.s.trainable)

    # linear layers ----------------------------------------------------------------------------
    def linear(self, x: T, name: str, n: int, in_f: int, out_f: int) -> T:
        """A Linear/Conv1D, frozen, trainable, quantized, and/or with a LoRA branch (PEFT)."""
        e, s = self.e, self.s
        quantized = name in s.quantized
        workspace = out_f * in_f * s.compute_bytes if quantized else 0  # dequantized weight
        if quantized and s.quantization == "int8":
            # bitsandbytes MatMul8bitLt keeps its input A for the backward
            out = self.t.op("linear8bit", [x], n * out_f * e, [x], workspace=workspace + n * in_f * 3)
        elif quantized:
            xc = self.cast(x, n * in_f, s.compute_bytes)  # Linear4bit runs in its compute dtype
            out = self.t.op("linear4bit", [xc], n * out_f * s.compute_bytes, [], workspace=workspace)
            out = self.cast(out, n * out_f, e)
        else:
            saved = [x] if name in s.trainable else []
            out = self.t.op("linear", [x], n * out_f * e, saved, requires_grad=x.requires_grad or bool(saved))
        rank = s.adapters.get(name)
        if rank is None:
            return out
        if quantized and s.quantization != "int8":
            out = self.t.op("clone", [out], out.nbytes, [], alias_grad=True)  # peft lora/bnb.py 4-bit clone
        a_bytes = s.adapter_bytes
        xa = self.cast(x, n * in_f, a_bytes)
        dropped = self.dropout(xa, n * in_f, s.lora_dropout)
        lora_a = self.t.op("lora_A", [dropped], n * rank * a_bytes, [dropped], requires_grad=True)
        lora_b = self.t.op("lora_B", [lora_a], n * out_f * a_bytes, [lora_a], requires_grad=True)
        scaled = self.t.op("mul_scalar", [lora_b], lora_b.nbytes, [])
        scaled = self.cast(scaled, n * out_f, e)
        return self.add(out, scaled)

    def embedding(self, name: str, n: int, width: int) -> T:
        trainable_rows = name in self.s.trainable
        ids = self.t.leaf(n * INDEX)
        out = self.t.op("embedding", [ids], n * width * self.e, [ids] if trainable_rows else [],
                        requires_grad=trainable_rows)
        rank = self.s.adapters.get(name)
        if rank is None:
            return out
        # peft lora Embedding: F.embedding(x, A.T) (saves ids) then @ B.T (saves after_A)
        after_a = self.t.op("lora_embedding_A", [ids], n * rank * self.s.adapter_bytes, [ids], requires_grad=True)
        lora = self.t.op("lora_embedding_B", [after_a], n * width * self.s.adapter_bytes, [after_a])
        return self.add(out, self.cast(lora, n * width, self.e))

    # attention -------------------------------------------------------------------------------
    def attention(self, q: T, k: T, v: T, b: int, s: int, heads: int, kv_heads: int, head_dim: int,
                  dropout: float, v_dim: int | None = None) -> T:
        """Scaled dot-product attention as transformers calls it; returns (b, s, heads*v_dim)."""
        v_dim = v_dim or head_dim
        e, n = self.e, b * s
        math_kernel = self.s.attention == "eager" or (dropout > 0 and not self.s.cuda)
        # transformers passes enable_gqa only without a mask; otherwise repeat_kv copies k and v
        repeat = kv_heads != heads and (self.s.padded or math_kernel)
        if repeat:  # repeat_kv materialises k and v for every query head
            k = self.t.op("repeat_kv", [k], n * heads * head_dim * e, [])
            v = self.t.op("repeat_kv", [v], n * heads * v_dim * e, [])
        if not math_kernel:
            # flash kernel (CPU flash / CUDA flash, mem-efficient): q, k, v, out, logsumexp
            lse = self.t.leaf(b * heads * s * FP32)
            mask = self.t.leaf(b * s * s * e) if self.s.padded else None
            self.t.op("sdpa_flash", [q, k, v], n * heads * v_dim * e, [q, k, v, lse, mask])
            return self.t.keep_output()  # laid out (b, s, heads, d) already: transpose(1, 2).contiguous() is a no-op
        scores_elems = b * heads * s * s
        q_bytes, kv_bytes = n * heads * head_dim * e, n * (heads if repeat else kv_heads) * head_dim * e
        if self.s.attention == "eager":
            # eager_attention_forward: matmul(q, k^T) saves q, k; softmax in fp32 saves its output
            scores = self.matmul(q, k, scores_elems * e)
            scores = self.t.op("scale_add_mask", [scores], scores.nbytes, [], alias_grad=True)
            probs = self.t.op("softmax", [scores], scores_elems * FP32, [])
        else:
            # aten _scaled_dot_product_attention_math: scaled copies of q and k^T, v reshaped
            qs = self.t.op("scale", [q], q_bytes, [])
            ks = self.t.op("scale", [k], kv_bytes, [])
            v = self.t.op("reshape_copy", [v], n * (heads if repeat else kv_heads) * v_dim * e, [])
            scores = self.matmul(qs, ks, scores_elems * e)
            probs = self.t.op("softmax", [scores], scores_elems * e, [])
        self.t.keep_output()
        probs = self.cast(probs, scores_elems, e)
        probs = self.dropout(probs, scores_elems, dropout)
        out = self.matmul(probs, v, n * heads * v_dim * e)
        return self.t.op("transpose_contiguous", [out], out.nbytes, [])

    def rope(self, x: T, cos: T, sin: T) -> T:
        """apply_rotary_pos_emb: x*cos + rotate_half(x)*sin; saves only cos and sin (shared)."""
        a = self.t.op("mul", [x], x.nbytes, [cos])
        rotated = self.t.op("rotate_half", [x], x.nbytes, [])
        c = self.t.op("mul", [rotated], x.nbytes, [sin])
        return self.add(a, c)

    # loss ------------------------------------------------------------------------------------
    def select(self, x: T, n_selected: int, width: int, n_all: int) -> T:
        """Hidden states at the target positions (gather); backward scatters into a full zero tensor."""
        idx = self.t.leaf(n_selected * INDEX)
        out = self.t.op("index", [x], n_selected * width * self.e, [idx])
        self.t.ops[-1].grad_bytes[id(x)] = n_all * width * self.e
        return out

    def cross_entropy(self, logits: T, n: int, vocab: int) -> T:
        """F.cross_entropy on fp32 logits: log_softmax saves its output, nll_loss the targets."""
        logits32 = self.cast(logits, n * vocab, FP32)
        self.t.op("log_softmax", [logits32], n * vocab * FP32, [])
        logp = self.t.keep_output()
        targets = self.t.leaf(n * INDEX)
        return self.t.op("nll_loss", [logp], FP32, [targets])
