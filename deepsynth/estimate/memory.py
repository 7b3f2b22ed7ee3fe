"""Peak training memory, term by term, each with its formula and where the formula comes from."""

from __future__ import annotations

import math
from dataclasses import dataclass

from deepsynth.estimate.architecture import Architecture, TransformerShape
from deepsynth.estimate.ops import Ops, Settings
from deepsynth.estimate.inventory import EXPERTS, Inventory, decoder_inventory
from deepsynth.estimate.params import ParameterCount, adapter_size
from deepsynth.estimate.blocks import decoder_step, encoder_forward
from deepsynth.estimate.trace import T, Trace
from deepsynth.estimate.workload import DTYPES, Workload
from deepsynth.lora import LoraSettings

FP32 = 4
NF4_BLOCK = 64  # bitsandbytes quantize_4bit blocksize (Params4bit default)
DQ_BLOCK = 256  # double quantization: 8-bit absmax constants in blocks of 256 (QLoRA paper, sec. 3)
ADAM8_BLOCK = 256  # bitsandbytes 8-bit optimizers: blockwise dynamic quantization, 256 per block
ADAM8_MIN_SIZE = 4096  # bitsandbytes Optimizer8bit: smaller tensors keep 32-bit states
CUDA_CONTEXT_BYTES = 512 * 2**20  # assumption: CUDA context + cuBLAS workspace, outside max_memory_allocated


@dataclass(frozen=True)
class MemoryTerm:
    bytes: int
    formula: str
    source: str


@dataclass(frozen=True)
class MemoryBreakdown:
    weights: MemoryTerm
    adapters: MemoryTerm
    gradients: MemoryTerm
    optimizer: MemoryTerm
    activations: MemoryTerm
    text_encoder: MemoryTerm
    overhead: MemoryTerm

    TERMS = ("weights", "adapters", "gradients", "optimizer", "activations", "text_encoder", "overhead")

    @property
    def total(self) -> int:
        return sum(getattr(self, name).bytes for name in self.TERMS)

    def as_bytes(self) -> dict[str, int]:
        values = {name: getattr(self, name).bytes for name in self.TERMS}
        values["total"] = self.total
        return values


def quantized_bytes(numel: int, out_features: int, quantization: str, double_quant: bool) -> int:
    """Bytes of one quantized weight matrix with its constants (bitsandbytes 0.50 storage)."""
    if quantization == "int8":
        return numel + out_features * FP32  # Int8Params: int8 CB + one fp32 scale per row (SCB)
    blocks = math.ceil(numel / NF4_BLOCK)
    packed = math.ceil(numel / 2)  # two 4-bit codes per uint8
    code = 16 * FP32  # the NF4/FP4 code book of the QuantState
    if not double_quant:
        return packed + blocks * FP32 + code  # fp32 absmax per 64-block
    # absmax quantized to uint8, fp32 absmax per 256 of those, + offset and the 8-bit code table
    return packed + blocks + math.ceil(blocks / DQ_BLOCK) * FP32 + FP32 + 256 * FP32 + code


def weights_term(inventory: Inventory, lora: LoraSettings, workload: Workload,
                 arch: Architecture | None = None) -> MemoryTerm:
    """Base weights. Under QLoRA only Linear layers of the language model are quantized; every other
    parameter (a VLM's tower and projector included) is cast to fp32 by PEFT's
    prepare_model_for_kbit_training. A VLM's projector counts here even when a trainable copy exists."""
    vlm = arch is not None and arch.vlm is not None
    modules = {m.name: m for m in inventory.modules}
    total = 0
    for p in inventory.parameters:
        if p.group == "projector" and not vlm:
            continue  # DeepSynth's own projection trains: counted with the adapters
        if lora.is_quantized and p.quantized_by:
            total += quantized_bytes(p.numel, modules[p.quantized_by].out_features, lora.quantization,
                                     lora.double_quantization)
        elif lora.is_quantized:
            total += p.numel * FP32  # prepare_model_for_kbit_training casts the rest to fp32
        else:
            total += p.numel * workload.dtype_bytes
    if vlm:
        from deepsynth.estimate.vlm.inventory import tower_buffer_elements

        total += tower_buffer_elements(arch.vlm) * (FP32 if lora.is_quantized else workload.dtype_bytes)
    if lora.is_quantized:
        formula = (f"{lora.quantization}: Linear weights {'0.5 B/param + absmax per 64-block' if lora.quantization != 'int8' else '1 B/param + fp32 row scale'}"
                   f"{' (double-quantized to 8 bits per 256 blocks)' if lora.double_quantization else ''}; other params fp32")
        source = "bitsandbytes quantize_4bit / Int8Params; QLoRA paper (arXiv 2305.14314) sec. 3; PEFT prepare_model_for_kbit_training"
    else:
        formula = f"all parameters x {workload.dtype_bytes} B ({workload.dtype})"
        source = "parameter inventory x dtype size"
    return MemoryTerm(total, formula, source)


def trainable_tensors(inventory: Inventory, params: ParameterCount, lora: LoraSettings,
                      arch: Architecture | None = None) -> list[int]:
    """Sizes of the fp32 tensors the optimizer updates (LoRA A and B per adapted module, DeepSynth's
    projection, biases); a VLM projector copy (model dtype) is `projector_copy_tensors`."""
    sizes: list[int] = []
    for module in params.match.adapted:
        rank = lora.rank * params.match.rank_factor.get(module.name, 1)
        total = adapter_size(module, rank)
        b_size = module.out_features * rank * (module.experts if module.kind == EXPERTS else 1)
        sizes += [total - b_size, b_size]
    copy = projector_copy_tensors(inventory, params)
    if arch is None or arch.vlm is None:  # DeepSynth's own projection always trains
        sizes += [p.numel for p in inventory.parameters if p.group == "projector"]
    extra = params.trainable - sum(sizes) - sum(copy)  # trainable biases (bias=all / lora_only)
    if extra > 0:
        sizes.append(extra)
    return sizes


def projector_copy_tensors(inventory: Inventory, params: ParameterCount) -> list[int]:
    """Tensor sizes of a VLM projector's trainable copy (PEFT modules_to_save), [] when none."""
    if not params.modules_to_save:
        return []
    return [p.numel for p in inventory.parameters if p.group == "projector"]


def optimizer_term(sizes: list[int], optimizer: str, copy_sizes: list[int] = (), copy_bytes: int = FP32) -> MemoryTerm:
    """AdamW state of fp32 trainable tensors, plus module copies kept in the model dtype (their
    moments take the parameter's dtype: `torch.zeros_like(p)`)."""
    term = _optimizer_state(sizes, optimizer)
    if not copy_sizes:
        return term
    extra = sum(2 * n * copy_bytes + FP32 for n in copy_sizes) if optimizer == "adamw" else \
        _optimizer_state(list(copy_sizes), optimizer).bytes
    return MemoryTerm(term.bytes + extra, term.formula + f"; projector copy {sum(copy_sizes):,} params x 2 moments "
                      f"x {copy_bytes if optimizer == 'adamw' else 1} B", term.source)


def _optimizer_state(sizes: list[int], optimizer: str) -> MemoryTerm:
    if optimizer == "adamw8bit":
        total = 0
        for n in sizes:
            if n >= ADAM8_MIN_SIZE:
                total += 2 * n + 2 * math.ceil(n / ADAM8_BLOCK) * FP32
            else:
                total += 2 * n * FP32
        return MemoryTerm(total, "2 x 1 B/param (8-bit moments) + fp32 absmax per 256; tensors < 4096 keep fp32",
                          "bitsandbytes AdamW8bit (Dettmers et al., arXiv 2110.02861)")
    total = sum(2 * n * FP32 + FP32 for n in sizes)  # exp_avg + exp_avg_sq, and a 0-dim fp32 step
    return MemoryTerm(total, "2 x 4 B per trainable param (exp_avg, exp_avg_sq) + 4 B step per tensor",
                      "torch.optim.AdamW state")


def trace_settings(arch: Architecture, lora: LoraSettings, params: ParameterCount, inventory: Inventory,
                   workload: Workload) -> Settings:
    quantized = {m.name for m in inventory.modules if m.quantizable and m.group == "decoder"} if lora.is_quantized else set()
    trainable = {layer[0] for layer in arch.projector.layers()} if arch.projector is not None and arch.projector.trainable else set()
    if params.modules_to_save:  # the VLM projector's trainable copy: its Linear, norm and embedding modules
        trainable = {p.name.rsplit(".", 1)[0] for p in inventory.parameters if p.group == "projector"}
        trainable |= {m.name for m in inventory.modules if m.group == "projector"}
    return Settings(
        act_bytes=workload.dtype_bytes,
        mask_bytes=1 if workload.device == "cuda" else workload.dtype_bytes,
        adapter_bytes=FP32,
        adapters={m.name: lora.rank * params.match.rank_factor.get(m.name, 1) for m in params.match.adapted},
        lora_dropout=lora.dropout,
        trainable=trainable,
        quantization=lora.quantization,
        quantized=quantized,
        compute_bytes=DTYPES[lora.compute_dtype],
        attention=workload.attention,
        cuda=workload.device == "cuda",
        padded=workload.padded,
    )


def activations_term(arch: Architecture, settings: Settings, workload: Workload) -> MemoryTerm:
    if arch.vlm is not None:
        return vlm_activations_term(arch, settings, workload)
    trace = Trace()
    o = Ops(trace, settings)
    b, e = workload.batch_size, settings.act_bytes
    front = None
    if workload.image_tokens:
        if arch.projector is not None:
            front = projector_forward(o, arch, b * workload.image_tokens)
        else:  # frozen encoder and projector: page embeddings arrive without a graph
            front = trace.leaf(b * workload.image_tokens * arch.decoder.hidden_size * e)
    loss = decoder_step(o, arch.decoder, b, workload.seq_len, workload.target_tokens, prefix=arch.decoder_prefix,
                        front=front, front_tokens=workload.image_tokens if front is not None else 0,
                        checkpointing=workload.gradient_checkpointing)
    peak = trace.peak(loss)
    vision = vision_forward_bytes(arch, workload)
    total = max(peak.peak, vision)
    formula = (f"replayed step: {peak.saved:,} B saved for backward; peak {peak.peak:,} B "
               f"({'backward' if peak.backward >= peak.forward else 'forward'})")
    if vision > peak.peak:
        formula += f"; vision encoder forward {vision:,} B is larger"
    return MemoryTerm(total, formula, "saved tensors per op (PyTorch derivatives.yaml) over the block's real ops "
                      "(transformers 5 modeling code, PEFT LoRA layers); see estimate/trace.py")


def vlm_activations_term(arch: Architecture, settings: Settings, workload: Workload) -> MemoryTerm:
    """A native VLM's step replayed: tower (frozen, or skipped when cached), projector, language model."""
    from deepsynth.estimate.vlm.step import vlm_step

    trace = Trace()
    loss = vlm_step(Ops(trace, settings), arch, workload)
    peak = trace.peak(loss)
    tower = "tower features cached (tower not run)" if workload.vision_cached else "tower run without gradients"
    formula = (f"replayed step ({arch.vlm.family}, {tower}): {peak.saved:,} B saved for backward; peak {peak.peak:,} B "
               f"({'backward' if peak.backward >= peak.forward else 'forward'}) incl. {trace.input_bytes:,} B of "
               "batch tensors (pixels, masks, cached features)")
    return MemoryTerm(peak.peak, formula, "saved tensors per op (PyTorch derivatives.yaml) over the real ops of the "
                      "tower, projector and language model (transformers 5 modeling code); see estimate/vlm/")


def projector_forward(o: Ops, arch: Architecture, n: int) -> T:
    """Reader features (fp32, no graph) through the trainable projection, then into their slots."""
    projector = arch.projector
    x = o.t.leaf(n * projector.in_features * FP32)
    layers = projector.layers()
    for index, (name, in_f, out_f, _) in enumerate(layers):
        x = o.linear(x, name, n, in_f, out_f)
        if index < len(layers) - 1:
            if projector.kind == "soft_characters":  # softmax saves its output
                o.t.op("softmax", [x], x.nbytes, [])
                x = o.t.keep_output()
            else:
                x = o.activation(x, n * out_f, "gelu")
    return o.t.op("masked_scatter", [x], x.nbytes, [o.t.leaf(n)])


def vision_forward_bytes(arch: Architecture, workload: Workload) -> int:
    """Working set of the frozen reader's forward (no gradients kept)."""
    if arch.vision is None or arch.vision.kind != "deepencoder" or not workload.image_tokens:
        return 0  # the EasyOCR reader runs on single text lines before the decoder: a few MB
    pages = workload.batch_size * math.ceil(workload.image_tokens / arch.vision.tokens_per_page)
    tokens, width, heads, e = 64 * 64, 768, 12, workload.dtype_bytes
    # SAM global-attention block at 1024x1024: the decomposed relative-position bias is expanded to
    # (heads, N, N) before attention; plus ~8 x (N, width) for the qkv, attention output and MLP
    return pages * (heads * tokens * tokens * e + 8 * tokens * width * e)


def text_encoder_term(shape: TransformerShape | None, decoder_hidden: int, workload: Workload) -> tuple[MemoryTerm, int, int]:
    """Memory of the instruction encoder + its projection; also returns (params, trainable params)."""
    if shape is None:
        return MemoryTerm(0, "no text encoder", ""), 0, 0
    inventory = decoder_inventory(shape, "text_encoder.")
    n = inventory.total
    projection = shape.hidden_size * decoder_hidden + decoder_hidden
    proj_bytes = projection * 4 * FP32  # fp32 weight + grad + AdamW m and v
    if not workload.train_text_encoder:
        weights = n * workload.dtype_bytes
        formula = f"frozen: {n:,} params x {workload.dtype_bytes} B, run without gradients; projection 16 B/param"
        return MemoryTerm(weights + proj_bytes, formula, "encoder inventory; AdamW state"), n + projection, projection
    settings = Settings(act_bytes=workload.dtype_bytes, mask_bytes=1 if workload.device == "cuda" else workload.dtype_bytes,
                        trainable={m.name for m in inventory.modules} | {"projection"}, attention=workload.attention,
                        cuda=workload.device == "cuda")
    trace = Trace()
    o = Ops(trace, settings)
    tokens = workload.batch_size * workload.instruction_tokens
    states = encoder_forward(o, shape, workload.batch_size, workload.instruction_tokens, "text_encoder.")
    out = o.linear(states, "projection", tokens, shape.hidden_size, decoder_hidden)  # one slot per token
    saved = trace.peak(trace.op("sum", [out], FP32, [])).saved
    weights = n * 4 * FP32  # fp32 weight + grad + AdamW m and v
    formula = f"trainable: {n:,} params x 16 B (weight, grad, AdamW m, v) + {saved:,} B activations; projection 16 B/param"
    return MemoryTerm(weights + proj_bytes + saved, formula, "encoder inventory; traced encoder step"), n + projection, n + projection


def overhead_term(workload: Workload) -> MemoryTerm:
    if workload.device == "cuda":
        return MemoryTerm(CUDA_CONTEXT_BYTES, "512 MiB CUDA context and library workspaces (assumption)",
                          "stated assumption; not visible to torch.cuda.max_memory_allocated")
    return MemoryTerm(0, "tensors only (the Python process and libraries add ~0.5-1 GB of RSS)", "stated assumption")
