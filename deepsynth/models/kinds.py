"""Which kind of model a `ModelConfig.name` is, decided from its `config.json` before any Auto class
is chosen (`AutoModelForCausalLM` also accepts some VLM folders and silently ignores their vision
tower, so the order of the rules matters).

Rules, in order:
1. `tiny` / `default`: DeepSynth's built-in reader + decoder (`builtin`).
2. Not a local folder: a hub id, loaded as a causal LM (`causal_lm`, the hub must be reachable).
3. `model_type == "vision-encoder-decoder"`: `vision_encoder_decoder` (its encoder is the reader).
4. `auto_map` in config.json (the model's own code): `remote_code`, only with
   `trust_remote_code=True` (DeepSeek-OCR v1: loaded as a causal LM fed the OCR reading; unverified).
5. `model_type` in transformers' image-text-to-text auto mapping: `vlm` (its own processor and
   vision tower; needs the processor files beside the weights).
6. `model_type` in the causal-LM auto mapping: `causal_lm` (the english_g2 reader feeds it).
7. Anything else: an error naming the model_type and these kinds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from deepsynth.errors import DeepSynthError

BUILTIN, CAUSAL_LM, VISION_ENCODER_DECODER, REMOTE_CODE, VLM = (
    "builtin", "causal_lm", "vision_encoder_decoder", "remote_code", "vlm")
KIND_DESCRIPTIONS = {
    CAUSAL_LM: "a causal language model (AutoModelForCausalLM; DeepSynth's OCR reader feeds it)",
    VISION_ENCODER_DECODER: "a VisionEncoderDecoderModel (TrOCR, Donut)",
    VLM: "an image-text-to-text model (AutoModelForImageTextToText + AutoProcessor: DeepSeek-OCR-2, "
         "Qwen2-VL, Qwen2.5-VL, SmolVLM, Idefics3, Florence-2, ...)",
    REMOTE_CODE: "a model with its own code (auto_map), with trust_remote_code",
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


@dataclass(frozen=True)
class ModelKind:
    """What a model source is and how DeepSynth loads it."""

    kind: str
    """One of builtin, causal_lm, vision_encoder_decoder, remote_code, vlm."""
    model_type: str = ""
    """config.json's model_type ("" for built-ins and hub ids)."""
    path: Path | None = None
    """The local folder, or None."""


def supported_kinds() -> str:
    return "; ".join(f"{kind}: {text}" for kind, text in KIND_DESCRIPTIONS.items())


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise DeepSynthError(f"model folder {folder}: no config.json (a Hugging Face model folder has "
                             "config.json beside its weights)")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DeepSynthError(f"{path}: cannot read JSON: {error}") from None
    if not isinstance(config, dict):
        raise DeepSynthError(f"{path}: not a JSON object")
    return config


def _missing_processor_files(folder: Path) -> list[str]:
    missing = []
    if not any((folder / name).is_file() for name in IMAGE_PROCESSOR_FILES):
        missing.append(" or ".join(IMAGE_PROCESSOR_FILES))
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    return missing


def detect_kind(name: str, trust_remote_code: bool = False) -> ModelKind:
    """The kind of `ModelConfig.name` (see the module docstring); raises `DeepSynthError` for a
    folder DeepSynth cannot fine-tune, naming what it found and what is supported."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)

    if name in ("tiny", "default"):
        return ModelKind(BUILTIN)
    folder = Path(name).expanduser()
    if not folder.exists():
        if "/" not in name or name.startswith((".", "/", "~")):
            raise DeepSynthError(f"model {name!r}: no such folder (and not a hub id)")
        return ModelKind(CAUSAL_LM)
    if not folder.is_dir():
        raise DeepSynthError(f"model {name!r}: a model is a folder with config.json, not a file")
    config = read_config(folder)
    model_type = str(config.get("model_type", ""))
    if model_type == "vision-encoder-decoder":
        return ModelKind(VISION_ENCODER_DECODER, model_type, folder)
    if config.get("auto_map"):
        if not trust_remote_code:
            raise DeepSynthError(
                f"model {folder} (model_type {model_type!r}) runs its own Python code (auto_map in config.json); "
                "DeepSynth runs it only with --trust-remote-code, which only you can give (an adapter's "
                "deepsynth_model.json never turns it on): add it only if you trust that folder "
                "(DeepSeek-OCR v1 needs it)")
        return ModelKind(REMOTE_CODE, model_type, folder)
    if model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        missing = _missing_processor_files(folder)
        if missing:
            raise DeepSynthError(
                f"model {folder} is a vision-language model (model_type {model_type!r}) but its processor "
                f"files are missing: {'; '.join(missing)}. Copy them from the model's release (DeepSynth "
                "feeds pages through the model's own processor)")
        return ModelKind(VLM, model_type, folder)
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return ModelKind(CAUSAL_LM, model_type, folder)
    raise DeepSynthError(f"model {folder}: model_type {model_type!r} is not a kind DeepSynth can fine-tune. "
                         f"Supported: {supported_kinds()}")
