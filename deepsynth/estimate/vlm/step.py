"""One training step of a native VLM, as ops: token embeddings, the frozen tower (unless its features
are cached) and the projector, the features scattered into the image placeholders, the language
model, and the loss on the summary tokens.

Order as in transformers 5 (`*Model.forward`): `inputs_embeds = embed(input_ids)` first (all tokens,
image placeholders included), then `get_image_features`, then `masked_scatter`. The loss is
DeepSynth's: the LM head on the target positions only (for Florence-2: every decoder position).
"""

from __future__ import annotations

from dataclasses import replace

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.blocks import decoder_layers, lm_loss
from deepsynth.estimate.ops import FP32, Ops
from deepsynth.estimate.trace import T
from deepsynth.estimate.vlm import bart
from deepsynth.estimate.vlm.frozen import Inputs
from deepsynth.estimate.vlm.processing import page_layout
from deepsynth.estimate.vlm.spec import DeepseekOcr2Tower
from deepsynth.estimate.vlm.towers import tower_and_projector
from deepsynth.estimate.workload import Workload


def sample_images(arch: Architecture, workload: Workload) -> tuple[tuple[int, int], ...]:
    """(height, width) of every image the tower runs on for one sample; for DeepSeek-OCR-2 the
    pages' global views first, then their local crops (the two tower calls of get_image_features)."""
    if workload.vision_images:
        return tuple(workload.vision_images)
    layout = page_layout(arch.vlm.processing, workload.page_width, workload.page_height)
    if isinstance(arch.vlm.tower, DeepseekOcr2Tower):
        return layout.images[:1] * workload.pages + layout.images[1:] * workload.pages
    return layout.images * workload.pages


def resolve_workload(arch: Architecture, workload: Workload) -> Workload:
    """A VLM workload with its image tokens filled in from the page size when left at 0."""
    if arch.vlm is None or workload.image_tokens or not workload.pages:
        return workload
    layout = page_layout(arch.vlm.processing, workload.page_width, workload.page_height)
    return replace(workload, image_tokens=layout.tokens * workload.pages)


def vlm_step(o: Ops, arch: Architecture, workload: Workload) -> T:
    """The step's loss; every op on the trace `o.t` (batch tensors registered as its inputs)."""
    vlm, shape = arch.vlm, arch.decoder
    b, image, text = workload.batch_size, workload.image_tokens, workload.seq_len
    if vlm.bart is not None:  # encoder-decoder: the summary is the decoder's input, not the encoder's
        text -= workload.target_tokens
    s = text + image
    x = o.embedding(f"{vlm.language_root}.shared" if vlm.bart else f"{vlm.language_root}.embed_tokens",
                    b * s, shape.hidden_size)
    if vlm.bart is not None:
        x = o.t.op("mul_scalar", [x], x.nbytes, [], alias_grad=True)  # BartScaledWordEmbedding
    if image:
        # QLoRA: prepare_model_for_kbit_training leaves the tower and projector in fp32 (not quantized)
        tower_ops = Ops(o.t, replace(o.s, act_bytes=FP32)) if o.s.quantized else o
        features = tower_and_projector(tower_ops, vlm, list(sample_images(arch, workload)), b, workload.vision_cached,
                                       Inputs(tower_ops), views=max(1, workload.pages))
        features = o.cast(features, features.nbytes // tower_ops.e, o.e)
        mask = o.t.leaf(b * s, name="image mask")
        x = o.t.op("masked_scatter", [x, features], x.nbytes, [mask])
    if workload.gradient_checkpointing and not x.requires_grad:
        x.requires_grad = True  # enable_input_require_grads(): checkpointed layers need a grad input
    if vlm.bart is not None:
        memory = bart.encoder(o, vlm.bart, x, vlm.language_root, b, s, workload.gradient_checkpointing)
        states = bart.decoder(o, vlm.bart, memory, vlm.language_root, b, workload.target_tokens, s,
                              workload.gradient_checkpointing)
        return bart.summary_loss(o, vlm.bart, states, b, workload.target_tokens)
    rope_rows = b if vlm.per_sample_rope else 1  # 3-D positions: a table per sample
    x = decoder_layers(o, shape, x, b, s, vlm.language_root, checkpointing=workload.gradient_checkpointing,
                       rope_rows=rope_rows)
    return lm_loss(o, shape, x, b, s, workload.target_tokens, "lm_head")
