"""The estimate for a live training run: what `deepsynth.training` logs beside the measured peak.

`estimate_for_training(config=TrainConfig, model=DocumentModel, batch=dict)` reads the shapes it
needs from the objects (the decoder's Hugging Face config, the batch's tensor shapes, the device)
and calls `estimate`. It never imports torch itself and never probes CUDA. A native VLM model
(models/vlm/model.py) is recognised from its Hugging Face config; see `estimate/vlm/live.py` for what it
reads from that model and its batches.
"""

from __future__ import annotations

from typing import Any

from deepsynth.estimate.architecture import Architecture, Projector, shape_from_config
from deepsynth.estimate.builtin import default_model
from deepsynth.estimate.estimator import Estimate, estimate
from deepsynth.estimate.workload import Workload

IGNORE_INDEX = -100


def architecture_for_model(model_config: Any, model: Any) -> Architecture:
    """The estimator's view of a built `DocumentModel` (decoder config + its vision projection)."""
    base = model.decoder.get_base_model()
    shape = shape_from_config(base.config.to_dict(), where=f"{model_config.name} decoder config")
    projector = None
    parts = getattr(model, "parts", None)
    vision = parts["default"]["vision"] if parts is not None and "vision" in parts["default"] else None
    if vision is not None:
        kind = type(vision).__name__
        if kind == "SoftCharacterProjection":
            projector = Projector(vision.head.in_features, vision.characters.out_features, "soft_characters",
                                  hidden=vision.head.out_features, name="parts.default.vision")
        else:  # MlpProjection: Linear -> GELU -> Linear
            first = vision.net[0]
            projector = Projector(first.in_features, first.out_features, "mlp", name="parts.default.vision")
    if model_config.name == "default":
        reference = default_model(model_config.vision_interface)
        return Architecture(name="default", decoder=shape, vision=reference.vision, projector=projector,
                            source=reference.source, notes=reference.notes)
    return Architecture(name=model_config.name, decoder=shape, projector=projector, source="decoder config")


def workload_for_batch(config: Any, model: Any, batch: dict[str, Any]) -> Workload:
    """Batch size, tokens, targets and padding read from the collated batch's tensor shapes."""
    count, width = (int(size) for size in batch["input_ids"].shape)
    labels = batch.get("labels")
    targets = 1
    if labels is not None:
        targets = max(1, round(int((labels[:, 1:] != IGNORE_INDEX).sum()) / count))
    image = int(batch["vision_features"].shape[1]) if "vision_features" in batch else 0
    mask = batch.get("attention_mask")
    padded = bool(mask is not None and int((mask == 0).sum()) > 0)
    cuda = str(model.device).startswith("cuda")
    instruction = int(batch["instruction_ids"].shape[1]) if "instruction_ids" in batch else 32
    decoder = getattr(model, "decoder", None)
    base = decoder.get_base_model() if hasattr(decoder, "get_base_model") else decoder
    checkpointing = bool(getattr(base, "is_activation_checkpointing", False))  # training.activations
    return Workload(batch_size=count, seq_len=max(width - image, targets), image_tokens=image,
                    target_tokens=targets, dtype="bfloat16" if cuda else "float32",
                    device="cuda" if cuda else "cpu", padded=padded,
                    text_encoder=config.model.text_encoder, train_text_encoder=config.model.train_text_encoder,
                    instruction_tokens=max(instruction, 1), num_documents=max(count, 1),
                    gradient_checkpointing=checkpointing)


def estimate_for_training(config: Any, model: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """{"total_bytes": predicted peak of the tensors (CUDA context excluded, as the measurement),
    **`Estimate.details()`} for this run's first batch."""
    from deepsynth.estimate.vlm.live import hf_config, vlm_architecture_for_model, vlm_workload

    vlm_config = hf_config(model)
    if vlm_config is not None:
        arch = vlm_architecture_for_model(config.model.name, model, vlm_config)
        result: Estimate = estimate(arch, config.lora, vlm_workload(arch, model, batch, vlm_config))
    else:
        result = estimate(architecture_for_model(config.model, model), config.lora,
                          workload_for_batch(config, model, batch))
    details = result.details()
    details["total_bytes"] = result.memory.total - result.memory.overhead.bytes
    return details
