"""The estimator's view of a live VLM training run: its Architecture from the Hugging Face model's
`config`, its Workload from the batch's tensor shapes (no torch import: tensors are only asked for
`.shape`, comparisons and sums).

The model is DeepSynth's VLM `DocumentModel` (models/vlm/model.py): `model.decoder` is the PeftModel,
`model.decoder.get_base_model().config` the composite config, `model.device`. The batch is its
`collate` output: `input_ids` (image placeholders expanded), `attention_mask`, `labels` (-100 outside
the summary), then either `image_features` (cached: the tower does not run) or `pixel_inputs` (one
dict of processor tensors per document: `pixel_values` [+ `pixel_values_local`], Qwen's
`image_grid_thw`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.vlm.config import is_vision_language, vlm_architecture
from deepsynth.estimate.workload import Workload

IGNORE_INDEX = -100


def hf_config(model: Any) -> dict[str, Any] | None:
    """The composite config of a DeepSynth VLM model as a dict, or None for other models."""
    decoder = getattr(model, "decoder", None)
    if decoder is None or not hasattr(decoder, "get_base_model"):
        return None
    config = decoder.get_base_model().config.to_dict()
    return config if is_vision_language(config) else None


def trains_projector(model: Any) -> bool:
    """Whether PEFT keeps a trainable copy of some module (`modules_to_save`: the projector)."""
    peft_config = getattr(model.decoder, "peft_config", {}).get("default")
    return bool(getattr(peft_config, "modules_to_save", None))


def vlm_architecture_for_model(name: str, model: Any, config: dict[str, Any]) -> Architecture:
    from deepsynth.hub_models import model_files

    folder = model_files(name)  # a local folder, or a hub id's snapshot in the HF cache
    return vlm_architecture(config, folder if folder.is_dir() else None, name, f"{name} (live model config)",
                            train_projector=trains_projector(model))


def _document_images(pixels: dict[str, Any], patch_size: int) -> list[tuple[int, int]]:
    """(height, width) of every image the tower runs on for one document's processor tensors."""
    grid = pixels.get("image_grid_thw")
    if grid is not None:  # Qwen: pixel_values are flattened patches; the grid gives each image's size
        return [(int(row[1]) * patch_size, int(row[2]) * patch_size) for row in grid]
    images: list[tuple[int, int]] = []
    for key in sorted(k for k in pixels if k.startswith("pixel_values")):
        shape = tuple(pixels[key].shape)
        count = 1
        for size in shape[:-3]:
            count *= int(size)
        images += [(int(shape[-2]), int(shape[-1]))] * count
    return images


def vlm_workload(arch: Architecture, model: Any, batch: dict[str, Any], base_config: dict[str, Any]) -> Workload:
    """Batch size, text and image tokens, targets, padding, cached features and tower inputs."""
    ids = batch["input_ids"]
    count, width = (int(size) for size in ids.shape)
    image_id = getattr(getattr(model, "reader", None), "image_token_id", None)  # the reader's (config attribute map)
    image_id = base_config.get("image_token_id", base_config.get("image_token_index")) if image_id is None else image_id
    # no placeholder token (BLIP, GIT, IDEFICS: features prepended or cross-attended): no image tokens in the rows
    image = round(int((ids == int(image_id)).sum()) / count) if image_id is not None else 0
    labels = batch.get("labels")
    targets = 1
    encoder_decoder = bool(getattr(model.decoder.get_base_model().config, "is_encoder_decoder", False))
    described = arch is not None and arch.structure is not None  # the traced step (a family description: its formula)
    if labels is not None and encoder_decoder and described:  # the decoder runs on every label position (padded)
        targets = max(1, int(labels.shape[1]))
    elif labels is not None:
        targets = max(1, round(int((labels[:, 1:] != IGNORE_INDEX).sum()) / count))
    mask = batch.get("attention_mask")
    padded = bool(mask is not None and int((mask == 0).sum()) > 0)
    documents = batch.get("documents") or []  # the own-forward path: cached tower module outputs per row
    cached = "image_features" in batch or bool(documents and all(document.get("tower") for document in documents))
    images: tuple[tuple[int, int], ...] = ()
    pages = 1 if image or "documents" in batch else 0
    if not cached and batch.get("pixel_inputs"):
        patch = int((base_config.get("vision_config") or {}).get("patch_size", 14) or 14)
        largest = max(batch["pixel_inputs"], key=lambda pixels: len(_document_images(pixels, patch)))
        images = tuple(_document_images(largest, patch))  # the tower runs per document: the largest one peaks
        if "pixel_values_local" in largest:  # DeepSeek-OCR-2: global views (one per page) first
            pages = int(largest["pixel_values"].shape[0])
    cuda = str(model.device).startswith("cuda")
    base = model.decoder.get_base_model()
    checkpointing = getattr(base, "is_activation_checkpointing", None)
    if checkpointing is None:
        checkpointing = getattr(base, "is_gradient_checkpointing", False)
    text = width - image
    rows: tuple[tuple[int, int], ...] = ()
    if "documents" in batch and mask is not None:  # the own forward runs each row on its real tokens only
        text = round(int(mask.sum()) / count) - image
        real = [int(length) for length in mask.sum(1).tolist()]
        row_images = ([int(n) for n in (ids == int(image_id)).sum(1).tolist()] if image_id is not None
                      else [0] * count)
        rows = tuple(zip(real, row_images))
    if getattr(base.config, "is_encoder_decoder", False):  # the prompt is the encoder's; seq_len counts the summary too
        text += targets
    return Workload(batch_size=count, seq_len=max(text, targets, 1), image_tokens=image, target_tokens=targets,
                    dtype="bfloat16" if cuda else "float32", device="cuda" if cuda else "cpu", padded=padded,
                    gradient_checkpointing=bool(checkpointing), vision_cached=cached, pages=pages,
                    vision_images=images, num_documents=count,
                    own_forward=("documents" in batch) if not getattr(base.config, "is_encoder_decoder", False) else None,
                    own_rows=rows)
