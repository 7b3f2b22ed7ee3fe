"""A VLM's training step traced on the meta device, and the estimate built from it.

The step is DeepSynth's (`models/vlm/model.VlmDocumentModel.forward` + `training/loop.TrainingLoop.
train_step`), run on the meta-device model of `vlm/structure.py` (LoRA placed as for training) with
meta tensors of the real sizes, inside `live_bytes.LiveBytes`, which counts the bytes every op
allocates and frees:

- the batch (made before the step, as the collated batch is): the token ids of `seq_len` text +
  the image tokens, and the cached tower features (image tokens x the language model's width);
- forward: the token embeddings, the features scattered into the image positions
  (`masked_scatter`), the language model (`get_decoder()`, as the model's own code runs it, with
  the attention kernel the device runs: `live_bytes.device_attention`), the LM head on the
  `target_tokens` positions only, cross-entropy in fp32 (for an encoder-decoder language model the
  summary is the decoder's input and the head runs on every decoder position);
- backward; gradient clipping; the AdamW step (its state is created at the first step, as here);
  `zero_grad(set_to_none=True)`.

Recorded: the activation peak (forward + backward, parameter gradients left out: the estimate
counts them as their own term) and the step peak (everything the step allocates, gradients and
optimizer state included, above the loaded model and the batch). The tower: with cached features
(`vision_cached`, what DeepSynth does wherever nothing in the tower trains) it does not run in the
step. Without, it runs first in the forward, one document at a time (`get_image_features`, as
`VlmPageReader.image_features`), on what the folder's processor makes of `pages` blank pages of the
page size: pixels as meta tensors, integer extras (image grids) with their values. A tower whose
code needs pixel values cannot run on meta tensors: the step is then traced without it, and
`StepTrace.tower` says why (the estimate's notes show it).

That is the fast path. A decoder-only family DeepSynth trains through the model's own forward
(`model_step.uses_own_forward`: as `build_vlm` decides, or as the live batch says), or whose language
model this trace cannot call apart (it raises: Gemma 4 computes per-layer inputs from the token ids),
is traced by running DeepSynth's own `VlmDocumentModel.forward` on the meta model instead
(`model_step.py`); `StepTrace.path` says which.
"""

from __future__ import annotations

import inspect

from dataclasses import dataclass, replace
from typing import Any

from deepsynth.lora import LoraSettings
from deepsynth.estimate.vlm.structure import VlmStructure, meta_lora_model
from deepsynth.estimate.workload import Workload


@dataclass(frozen=True)
class StepTrace:
    """Bytes of one traced training step."""

    activations: int
    """Peak of forward + backward, parameter gradients left out."""
    forward_backward: int
    """Peak of forward + backward, parameter gradients included."""
    step: int
    """Peak of the whole step (forward, backward, clipping, optimizer step) above the loaded model and
    the batch."""
    batch: int
    """Bytes of the batch tensors (token ids, cached features, mask), alive through the step."""
    gradients: int
    """Bytes of the parameter gradients after backward."""
    tower: str = "cached"
    """The tower in the step: "cached" (not run), "traced" (its forward traced, per document), or
    "not traced: REASON" (its inputs could not be run on the meta device)."""
    path: str = "fast"
    """The step traced: "fast" (this module's trace of the fast path), "own forward" or "model
    forward" (DeepSynth's `VlmDocumentModel.forward` run on the meta model, `model_step.py`)."""


def trace_step(structure: VlmStructure, lora: LoraSettings, workload: Workload, max_grad_norm: float = 1.0) -> StepTrace:
    """Trace one step (module docstring) for `workload` (batch size, text + image tokens, targets,
    dtype, gradient checkpointing, attention)."""
    import torch

    built = meta_lora_model(structure, lora)
    peft_model = built.peft_model
    base = peft_model.get_base_model()
    dtype = getattr(torch, workload.dtype)  # Workload.dtype is one of float32, bfloat16, float16
    original_dtype = next(base.parameters()).dtype
    frozen = [p for p in base.parameters() if not p.requires_grad]
    for parameter in frozen:  # the base weights in the run's dtype; adapters stay fp32 as PEFT keeps them
        parameter.data = parameter.data.to(dtype)
    attention = base.config._attn_implementation
    if workload.attention != attention:
        try:
            base.set_attn_implementation(workload.attention)
        except ValueError:  # a model without that kernel (GIT: eager only) runs the one it was built with
            attention = workload.attention
    checkpointing = workload.gradient_checkpointing
    if checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    peft_model.train()
    try:
        from deepsynth.estimate.vlm.model_step import trace_model_step, uses_own_forward

        if uses_own_forward(base, workload):
            return trace_model_step(structure, peft_model, workload, max_grad_norm, own_forward=True)
        try:
            fast = _trace(structure, base, dtype, workload, max_grad_norm, None)
        except Exception:  # noqa: BLE001 - a language model not callable apart (Gemma 4): the model's own code
            if structure.encoder_decoder:
                raise
            return trace_model_step(structure, peft_model, workload, max_grad_norm, own_forward=False)
        if workload.vision_cached or not structure.tower or not workload.image_tokens:
            return fast
        try:
            from deepsynth.estimate.vlm.processor_tokens import tower_inputs

            inputs = tower_inputs(structure.folder, workload.page_width, workload.page_height, workload.pages)
            return _trace(structure, base, dtype, workload, max_grad_norm, inputs)
        except Exception as error:  # noqa: BLE001 - a tower whose code needs values: the language model's step alone
            reason = f"not traced: {type(error).__name__}: {' '.join(str(error).split())[:160]}"
            return replace(fast, tower=reason)
    finally:
        if checkpointing:
            base.gradient_checkpointing_disable()
        if workload.attention != attention:
            base.set_attn_implementation(attention)
        for parameter in frozen:
            parameter.data = parameter.data.to(original_dtype)


def _tower_features(base: Any, inputs: dict[str, Any], dtype: Any) -> Any:
    """The tower + projector's output for one document, as `VlmPageReader.image_features` gets it."""
    import inspect

    import torch

    accepted = inspect.signature(base.get_image_features).parameters
    arguments = {k: v for k, v in inputs.items() if k in accepted}
    pooled = base.get_image_features(**arguments, return_dict=True).pooler_output
    if isinstance(pooled, (list, tuple)):
        pooled = torch.cat([p.reshape(-1, p.shape[-1]) for p in pooled])
    return pooled.reshape(-1, pooled.shape[-1]).to(dtype)


def _trace(structure: VlmStructure, base: Any, dtype: Any, workload: Workload, max_grad_norm: float,
           tower_inputs: dict[str, Any] | None) -> StepTrace:
    import torch
    import torch.nn.functional as F

    from deepsynth.models.vlm.model import _inner

    meta = torch.device("meta")
    b, image, targets = workload.batch_size, workload.image_tokens, workload.target_tokens
    text = workload.seq_len - (targets if structure.encoder_decoder else 0)
    s = text + image
    embed = base.get_input_embeddings()
    head = base.get_output_embeddings()
    width = embed.weight.shape[1]
    language_model = base.get_submodule(structure.language_root)
    cap = getattr(base.config.get_text_config(decoder=True), "final_logit_softcapping", None)
    # the batch: token ids, attention mask, labels, cached features (collated before the step)
    ids = torch.empty(b, s, dtype=torch.long, device=meta)
    mask = torch.empty(b, s, dtype=torch.long, device=meta)
    labels = torch.empty(b, s if not structure.encoder_decoder else targets, dtype=torch.long, device=meta)
    if tower_inputs is None:
        features = torch.empty(b * image, width, dtype=dtype, device=meta)
        pixels: list[Any] = [features]
    else:  # per document: the pixels on meta (their values are not needed), integer extras as given
        tower_inputs = {k: v.to(meta, dtype) if v.is_floating_point() else v for k, v in tower_inputs.items()}
        pixels = list(tower_inputs.values()) * b
    batch = sum(t.numel() * t.element_size() for t in (ids, mask, labels, *pixels))
    trainable = [p for p in base.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)

    def forward() -> Any:  # its locals are gone before backward, as in VlmDocumentModel.forward
        # padded rows: the 4-D boolean mask transformers builds (b, 1, s, s); else none (causal kernel)
        attention = torch.ones(b, 1, s, s, dtype=torch.bool, device=meta) if workload.padded else None
        x = embed(ids)
        if image:
            if tower_inputs is not None:  # the tower runs now, one document at a time
                found = torch.cat([_tower_features(base, tower_inputs, x.dtype) for _ in range(b)])
            else:
                found = features
            x = x.masked_scatter((ids == 0).unsqueeze(-1), found)
        if structure.encoder_decoder:  # as VlmSeq2SeqModel.forward: the inner model's encoder + decoder
            decoder_ids = torch.empty(b, targets, dtype=torch.long, device=meta)
            extra = {}
            if "bbox" in inspect.signature(_inner(base).forward).parameters:  # UDOP: a box per token
                extra["bbox"] = torch.zeros(b, s, 4, dtype=x.dtype, device=meta)
            hidden = _inner(base)(inputs_embeds=x, attention_mask=mask, decoder_input_ids=decoder_ids,
                                  use_cache=False, **extra)[0]
            rows = torch.empty(b * targets, dtype=torch.long, device=meta)  # hidden[labels != -100]: a copy
            selected = hidden.reshape(-1, hidden.shape[-1])[rows]
            wanted = labels.reshape(-1)[rows]
            logits = head(selected)
            if cap:  # T5Gemma 2's final logit softcap, as VlmSeq2SeqModel.forward applies it
                logits = torch.tanh(logits / cap) * cap
            return F.cross_entropy(logits.float(), wanted)
        else:
            hidden = language_model(inputs_embeds=x, attention_mask=attention, use_cache=False)[0]
            rows = torch.empty(b * targets, dtype=torch.long, device=meta)  # the target positions
            selected = hidden[:, :-1].reshape(-1, hidden.shape[-1])[rows]
            wanted = labels[:, 1:].reshape(-1)[rows]
        return F.cross_entropy(head(selected).float(), wanted)

    activations, forward_backward, gradients, peak = traced_step(forward, trainable, optimizer, max_grad_norm,
                                                                 workload.device)
    return StepTrace(activations, forward_backward, peak, batch, gradients,
                     "cached" if tower_inputs is None else "traced")


def traced_step(loss_of: Any, trainable: list[Any], optimizer: Any, max_grad_norm: float, device: str,
                inner: Any = None) -> tuple[int, int, int, int]:
    """One training step under the live-bytes tracker, as `TrainingLoop.train_step` runs it: the loss
    (`loss_of()`), backward, gradient clipping, the optimizer's step, zero_grad. Returns (activation
    peak without gradients, forward + backward peak, gradient bytes, the whole step's peak); leaves
    no gradient or optimizer state behind. `inner`: a context entered inside the tracker."""
    import contextlib

    import torch

    from deepsynth.estimate.live_bytes import LiveBytes, device_attention

    tracker = LiveBytes()
    hooks = tracker.mark_gradients(trainable)
    try:
        with device_attention(device), tracker, (inner or contextlib.nullcontext()):
            loss = loss_of()
            loss.backward()
            del loss
            activations, forward_backward, gradients = (tracker.peak_without_gradients, tracker.peak,
                                                        tracker.gradient_bytes)
            if max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    finally:
        for hook in hooks:
            hook.remove()
        optimizer.state.clear()
        for parameter in trainable:
            parameter.grad = None
    return activations, forward_backward, gradients, tracker.peak
