"""The estimate of a VLM described from its structure: parameters from the meta-device build with
LoRA (`structure.py`), vision tokens from its processor on a page (`processor_tokens.py`), memory
from the traced step (`structural_step.py`), time from the parameter counts.

Memory terms, as for every estimate: weights (every base parameter and buffer of the meta build in
the run's dtype; under QLoRA the language model's Linear weights in their quantized storage, the
rest fp32), adapters (fp32, plus the projector's copy with `train_projector`), gradients (one per
trainable parameter), optimizer (AdamW state per trainable tensor), activations (the traced
forward + backward peak, gradients left out). The step peak the trace measured (everything the step
allocates above the loaded model and the batch) is in the notes and `Estimate.step_peak`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from deepsynth.errors import InputError
from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.shapes import TransformerShape
from deepsynth.estimate.workload import Workload
from deepsynth.lora import LoraSettings

FP32 = 4


def _int(config: dict[str, Any], *keys: str, default: int = 0) -> int:
    for key in keys:
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return default


def text_shape(config: dict[str, Any]) -> TransformerShape:
    """The language model's shape as far as config.json tells it (display and time prediction)."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    hidden = _int(text, "hidden_size", "d_model", "n_embd", default=1)
    heads = max(1, _int(text, "num_attention_heads", "n_head", "decoder_attention_heads", default=1))
    return TransformerShape(
        family=str(text.get("model_type") or "llama"), hidden_size=hidden,
        intermediate_size=_int(text, "intermediate_size", "ffn_dim", "decoder_ffn_dim", default=4 * hidden),
        num_layers=_int(text, "num_hidden_layers", "n_layer", "decoder_layers", "num_layers", default=1),
        num_heads=heads, num_kv_heads=_int(text, "num_key_value_heads", default=heads),
        head_dim=_int(text, "head_dim", default=max(1, hidden // heads)), vocab_size=_int(text, "vocab_size", default=1),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False))))


def structural_architecture(config: dict[str, Any], folder: Path | None, name: str, where: str,
                            train_projector: bool = False) -> Architecture:
    """The `Architecture` of an image-text-to-text model no family description covers."""
    from deepsynth.estimate.vlm.structure import describe

    if folder is None or not (Path(folder) / "config.json").is_file():
        raise InputError(f"{where}: model_type {config.get('model_type')!r} is described from its structure, "
                         "which needs its model folder (config.json)")
    structure = describe(folder, config, train_projector)
    notes = (f"{structure.family}: described from its structure (meta-device build of the model and its "
             "LoRA adapter; vision tokens from its processor; memory from a traced step)",
             f"vision tower `{structure.tower}` frozen (features cached where nothing in it trains)",
             f"projector `{structure.projector}` " + ("trained in full (modules_to_save)" if train_projector else "frozen"))
    return Architecture(name=name, decoder=text_shape(config), source=where, notes=notes, structure=structure)


def vision_tokens(arch: Architecture, page_width: int, page_height: int) -> int:
    """Image tokens one page becomes, from the folder's processor (`processor_tokens`)."""
    from deepsynth.estimate.vlm.processor_tokens import processor_vision_tokens

    return processor_vision_tokens(arch.structure.folder, page_width, page_height)


def resolve_structural_workload(arch: Architecture, workload: Workload) -> Workload:
    if workload.image_tokens or not workload.pages:
        return workload
    tokens = vision_tokens(arch, workload.page_width, workload.page_height)
    return replace(workload, image_tokens=tokens * workload.pages)


def _weights(peft_model: Any, structure: Any, lora: LoraSettings, workload: Workload):
    from deepsynth.estimate.memory import MemoryTerm, quantized_bytes

    from deepsynth.estimate.vlm.structure import quantizable_weights

    quantized = quantizable_weights(peft_model, structure) if lora.is_quantized else set()
    total = 0
    for name, parameter in peft_model.named_parameters():
        if ".lora_" in name or ".modules_to_save." in name:
            continue  # the adapter term
        numel = parameter.numel()
        if name in quantized:
            total += quantized_bytes(numel, int(parameter.shape[0]), lora.quantization, lora.double_quantization)
        else:
            total += numel * (FP32 if lora.is_quantized else workload.dtype_bytes)
    total += sum(b.numel() * (FP32 if b.is_floating_point() and lora.is_quantized else
                              workload.dtype_bytes if b.is_floating_point() else b.element_size())
                 for b in peft_model.buffers())
    formula = (f"{lora.quantization}: the language model's Linear weights quantized, other parameters fp32"
               if lora.is_quantized else f"all parameters and buffers x {workload.dtype_bytes} B ({workload.dtype})")
    return MemoryTerm(total, formula, "the meta-device build's parameters and buffers (named_parameters, tied once)")


def structural_estimate(arch: Architecture, lora: LoraSettings, workload: Workload, *, gpu: Any = "A100 80GB",
                        local_device: Any = None, utilization: float | None = None,
                        price_per_hour: float | None = None):
    """`estimator.estimate` for an `Architecture` with a `structure` (module docstring)."""
    from deepsynth.estimate.estimator import Estimate
    from deepsynth.estimate.gpus import GPUS, Gpu, find_gpu, fit_table, with_price
    from deepsynth.estimate.memory import MemoryBreakdown, MemoryTerm, optimizer_term, overhead_term
    from deepsynth.estimate.throughput import DEFAULT_UTILIZATION, predict
    from deepsynth.estimate.vlm.structural_step import trace_step
    from deepsynth.estimate.vlm.structure import meta_lora_model, structural_parameters

    if workload.text_encoder != "none":
        raise InputError("a vision-language model reads the instruction itself: text_encoder must be none")
    structure = arch.structure
    workload = resolve_structural_workload(arch, workload)
    params = structural_parameters(structure, lora)
    peft_model = meta_lora_model(structure, lora).peft_model
    copy = params.modules_to_save
    copy_bytes = FP32 if lora.is_quantized else workload.dtype_bytes
    adapters = MemoryTerm(params.adapter * FP32 + copy * copy_bytes,
                          f"{params.adapter:,} LoRA params (r={lora.rank}, {len(params.match.adapted)} modules) fp32"
                          + (f" + projector copy {copy:,} params x {copy_bytes} B" if copy else ""),
                          "PEFT's adapter on the meta-device build")
    gradients = MemoryTerm((params.trainable - copy) * FP32 + copy * copy_bytes,
                           f"{params.trainable:,} trainable params, one gradient each", "one gradient per trainable parameter")
    sizes = [p.numel() for n, p in peft_model.named_parameters() if p.requires_grad and ".modules_to_save." not in n]
    copy_sizes = [p.numel() for n, p in peft_model.named_parameters() if p.requires_grad and ".modules_to_save." in n]
    try:
        trace = trace_step(structure, lora, workload)
    except (RuntimeError, ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        # a forward the meta trace cannot run (UDOP's encoder wants a box per token): named, not a traceback
        raise InputError(f"{arch.name}: its training step could not be traced on the meta device "
                             f"({type(error).__name__}: {' '.join(str(error).split())[:200]}); the parameter "
                             "counts hold, the memory estimate is not available for this family") from None
    activations = MemoryTerm(trace.activations + trace.batch,
                             f"traced step on the meta device: forward + backward peak {trace.activations:,} B "
                             f"+ {trace.batch:,} B of batch tensors; the whole step's peak {trace.step:,} B "
                             "(gradients and optimizer state included)",
                             "estimate/vlm/structural_step.py (live tensor bytes per ATen op, estimate/live_bytes.py)")
    memory = MemoryBreakdown(
        weights=_weights(peft_model, structure, lora, workload), adapters=adapters, gradients=gradients,
        optimizer=optimizer_term(sizes, workload.optimizer, copy_sizes, copy_bytes), activations=activations,
        text_encoder=MemoryTerm(0, "no text encoder", ""), overhead=overhead_term(workload))
    chosen = with_price(gpu if isinstance(gpu, Gpu) else find_gpu(gpu), price_per_hour)
    notes = list(arch.notes)
    if trace.path != "fast":
        notes.append(f"step traced through DeepSynth's VlmDocumentModel.forward on the meta-device model ({trace.path}"
                     + (": the model's own forward, one document per call" if trace.path == "own forward" else "")
                     + ", estimate/vlm/model_step.py)")
    elif workload.own_forward is None and not structure.encoder_decoder:
        notes.append("the step is traced through cached image features (the fast path); if, when loading, this "
                     "model's own forward gives another loss on its weights, training takes the own forward, "
                     "whose memory can differ: an estimate without the weights cannot tell (a live run's estimate "
                     "reads the path from its batch)")
    if trace.tower.startswith("not traced"):
        notes.append(f"tower not cached: it runs in every step, but its forward is {trace.tower} "
                     "(the language model's step is traced)")
    elif trace.tower == "traced":
        notes.append("tower not cached: its forward runs in every step (traced, one document at a time)")
    if workload.device == "cpu":
        notes.append("CPU: the peak counts tensors only (no CUDA context or allocator reserve to add)")
    result = Estimate(arch.name, params, 0, 0, memory, fit_table(memory.total, local_device, GPUS),
                      predict(_flops(params, arch, workload, lora), workload, chosen, utilization or DEFAULT_UTILIZATION),
                      tuple(notes), workload, step_peak=trace.step)
    return result


def _flops(params: Any, arch: Architecture, workload: Workload, lora: LoraSettings) -> float:
    """Training FLOPs of one step from the counts: 4 x frozen language-model weights per token
    (forward + input gradients; 6 with checkpointing), 6 x adapter weights, the LM head on the
    targets, attention scores; the frozen tower's forward (2 x its weights per image token) when its
    features are not cached."""
    shape, b = arch.decoder, workload.batch_size
    tokens = workload.decoder_tokens
    language = params.by_group.get("decoder", 0) - shape.vocab_size * shape.hidden_size * (1 if shape.tie_word_embeddings else 2)
    per_token = (4 + (2 if workload.gradient_checkpointing else 0)) * max(language, 0) + 6 * params.adapter
    per_token += 12 * shape.num_layers * shape.num_heads * shape.head_dim * tokens
    flops = b * tokens * per_token + b * workload.target_tokens * 4 * shape.hidden_size * shape.vocab_size
    if not workload.vision_cached:
        flops += b * workload.image_tokens * 2 * (params.by_group.get("vision", 0) + params.by_group.get("projector", 0))
    return float(flops)
