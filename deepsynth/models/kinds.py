"""The kinds of model DeepSynth fine-tunes: one class per kind, one registry that detects them.

A kind is decided from the model's `config.json` before any Auto class is chosen
(`AutoModelForCausalLM` also accepts some VLM folders and silently ignores their vision tower, so
the order of the rules matters). Callers ask the detected kind what to do (build, default LoRA
targets, read pages, export, merge); none compares kind names. The estimator reads a source itself
(`estimate.builtin.load_architecture`): models/ sits below the estimator and never imports it. `ModelKind.name` is what a
trained adapter's `deepsynth_model.json` records (`base_model.kind`, VLMs only today).

Rules, in order (`KINDS`; the first kind that detects a source wins):
1. `tiny` / `default`: DeepSynth's built-in reader + decoder (`BuiltinKind`).
2. `model_type == "vision-encoder-decoder"`: `VisionEncoderDecoderKind` (its encoder is the reader).
3. `auto_map` in config.json (the model's own code): `RemoteCodeKind`, only with
   `trust_remote_code=True` (DeepSeek-OCR v1: loaded as a causal LM fed the OCR reading; unverified).
4. `model_type` in transformers' image-text-to-text auto mapping: `ImageTextToTextKind` (its own
   processor and vision tower; needs the processor files beside the weights).
5. `model_type` in the causal-LM auto mapping: `CausalLmKind` (the english_g2 reader feeds it).
6. Anything else: an error naming the model_type and these kinds.
A hub id (`ORG/NAME[@REVISION]`) is read as its snapshot folder in the HF cache (`hub_models.model_files`:
fetched when missing and the hub may be contacted), so it takes the rules of a local folder. A name that is
neither a built-in, a folder nor a hub id is refused before the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from deepsynth.errors import DeepSynthError
from deepsynth.hub_offline import is_hub_id
from deepsynth.models.config import BUILT_IN_MODELS

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


@dataclass(frozen=True)
class ModelSource:
    """What a `ModelConfig.name` points at, read once: a built-in name, a hub id or a local folder."""

    name: str
    """`ModelConfig.name` as given."""
    folder: Path | None = None
    """The local folder (a hub id's snapshot in the HF cache), or None (a built-in name)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The folder's config.json ({} without a folder)."""

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))

    @classmethod
    def read(cls, name: str) -> "ModelSource":
        if name in BUILT_IN_MODELS:
            return cls(name)
        from deepsynth.hub_models import model_files

        folder = Path(name).expanduser()
        if not folder.exists():
            if not is_hub_id(name):
                raise DeepSynthError(f"model {name!r}: no such folder (and not a hub id ORG/NAME[@REVISION])")
            folder = model_files(name)  # its snapshot in the HF cache (fetched if allowed): read as a folder
        if not folder.is_dir():
            raise DeepSynthError(f"model {name!r}: a model is a folder with config.json, not a file")
        return cls(name, folder, read_config(folder))


@dataclass(frozen=True)
class LoadedBase:
    """A kind's base model loaded for merging an adapter into it (`export.merge`)."""

    model: Any
    """The transformers model the adapter's LoRA sits in."""
    tokenizer: Any
    """Its tokenizer (the merge check probes the model with text)."""
    files: Any
    """What is saved beside the merged weights (`save_pretrained(folder)`): the tokenizer, or a VLM's
    processor files."""


class ModelKind:
    """One kind of model source: how DeepSynth detects, loads, adapts, exports and merges it."""

    name: ClassVar[str]
    """Stable identifier (written as `base_model.kind` into adapters of kinds that record it)."""
    description: ClassVar[str] = ""
    """What the kind is, for error messages."""
    standalone_package: ClassVar[bool] = False
    """An exported package runs with transformers + PEFT alone (no DeepSynth code vendored)."""

    def detects(self, source: ModelSource, trust_remote_code: bool) -> bool:
        """Whether `source` is of this kind; raises `DeepSynthError` for a source that is of this kind
        but cannot be fine-tuned as it stands (naming what is missing)."""
        raise NotImplementedError

    def build(self, config: Any, lora: Any, device: str = "cpu"):
        """A DocumentModel-API model whose trainable part carries a fresh LoRA adapter `default`."""
        from deepsynth.models.build import build_decoder_model

        return build_decoder_model(config, lora, device)

    def default_targets(self, model: Any) -> tuple[str, ...] | str:
        """PEFT `target_modules` when the user names none, for the loaded (un-wrapped) `model`."""
        from deepsynth.models.builtin.decoder import default_targets

        return default_targets(model)

    def read_pages(self, model: Any, pages: Sequence[Any]) -> Any:
        """What `model` (built by `build`) reads from one document's pages: a reading for `collate`."""
        return model.read_pages(pages)

    def load_base(self, config: Any, lora: Any, device: str) -> LoadedBase:
        """The base model (quantized as `lora` says) an adapter of this kind is merged into."""
        from deepsynth.models.builtin.decoder import load_decoder

        loaded = load_decoder(config.name, lora, device, trust_remote_code=config.trust_remote_code)
        return LoadedBase(loaded.model, loaded.tokenizer, loaded.tokenizer)

    def meta_skeleton(self, source: ModelSource) -> Any | None:
        """The base built from config.json on the meta device (shapes, no weights) when this kind can
        be described so; None: the shapes come from the built DocumentModel (`build`)."""
        return None


class BuiltinKind(ModelKind):
    name = "builtin"
    description = "DeepSynth's built-in EasyOCR english_g2 reader + decoder (`default`, or `tiny` for tests)"

    def detects(self, source: ModelSource, trust_remote_code: bool) -> bool:
        return source.name in BUILT_IN_MODELS


class VisionEncoderDecoderKind(ModelKind):
    name = "vision_encoder_decoder"
    description = "a VisionEncoderDecoderModel (TrOCR, Donut)"

    def detects(self, source: ModelSource, trust_remote_code: bool) -> bool:
        return source.folder is not None and source.model_type == "vision-encoder-decoder"

    def build(self, config: Any, lora: Any, device: str = "cpu"):
        from deepsynth.models.vlm.vision_encoder_decoder import build_vision_encoder_decoder

        return build_vision_encoder_decoder(config, lora, device)

    def default_targets(self, model: Any) -> tuple[str, ...]:
        from deepsynth.models.builtin.decoder import default_targets

        return default_targets(model.decoder)  # the text decoder only: the encoder is the frozen reader


class RemoteCodeKind(ModelKind):
    name = "remote_code"
    description = "a model with its own code (auto_map), with trust_remote_code"

    def detects(self, source: ModelSource, trust_remote_code: bool) -> bool:
        if source.folder is None or not source.config.get("auto_map"):
            return False
        if not trust_remote_code:
            raise DeepSynthError(
                f"model {source.folder} (model_type {source.model_type!r}) runs its own Python code (auto_map in "
                "config.json); DeepSynth runs it only with --trust-remote-code, which only you can give (an "
                "adapter's deepsynth_model.json never turns it on): add it only if you trust that folder "
                "(DeepSeek-OCR v1 needs it)")
        return True


class ImageTextToTextKind(ModelKind):
    name = "vlm"
    description = ("an image-text-to-text model (AutoModelForImageTextToText + AutoProcessor: DeepSeek-OCR-2, "
                   "Qwen2-VL, Qwen2.5-VL, SmolVLM, Idefics3, Florence-2, ...)")
    standalone_package = True  # a plain PEFT adapter on a transformers VLM

    def detects(self, source: ModelSource, trust_remote_code: bool) -> bool:
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        if source.folder is None or source.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            return False
        missing = _missing_processor_files(source.folder)
        if missing:
            raise DeepSynthError(
                f"model {source.folder} is a vision-language model (model_type {source.model_type!r}) but its "
                f"processor files are missing: {'; '.join(missing)}. Copy them from the model's release "
                "(DeepSynth feeds pages through the model's own processor)")
        return True

    def build(self, config: Any, lora: Any, device: str = "cpu"):
        from deepsynth.models.vlm.build import build_vlm

        return build_vlm(config, lora, device)

    def default_targets(self, model: Any) -> str:
        from deepsynth.lora import LoraSettings
        from deepsynth.models.vlm.build import language_model_path, lora_targets

        return lora_targets(model, LoraSettings(), language_model_path(model))

    def load_base(self, config: Any, lora: Any, device: str) -> LoadedBase:
        from deepsynth.models.vlm.build import load_vlm
        from deepsynth.models.vlm.processor import ProcessorFiles

        from deepsynth.hub_models import model_files

        folder = model_files(config.name)
        model, processor = load_vlm(folder, lora, device)
        return LoadedBase(model, processor.tokenizer, ProcessorFiles(folder))

    def meta_skeleton(self, source: ModelSource) -> Any:
        from deepsynth.models.vlm.build import meta_skeleton

        return meta_skeleton(str(source.folder))


class CausalLmKind(ModelKind):
    name = "causal_lm"
    description = "a causal language model (AutoModelForCausalLM; DeepSynth's OCR reader feeds it)"

    def detects(self, source: ModelSource, trust_remote_code: bool) -> bool:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        return source.folder is not None and source.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


BUILTIN, VISION_ENCODER_DECODER, REMOTE_CODE, IMAGE_TEXT_TO_TEXT, CAUSAL_LM = (
    BuiltinKind(), VisionEncoderDecoderKind(), RemoteCodeKind(), ImageTextToTextKind(), CausalLmKind())
KINDS: tuple[ModelKind, ...] = (BUILTIN, VISION_ENCODER_DECODER, REMOTE_CODE, IMAGE_TEXT_TO_TEXT, CAUSAL_LM)
"""Every kind, in the order the rules try them (see the module docstring)."""


@dataclass(frozen=True)
class DetectedModel:
    """A model source and its kind."""

    kind: ModelKind
    """The kind that detected it (ask it what to do)."""
    model_type: str = ""
    """config.json's model_type ("" for built-ins)."""
    path: Path | None = None
    """The local folder, or None."""
    source: ModelSource | None = None
    """What was read to decide."""


def supported_kinds() -> str:
    kinds = (CAUSAL_LM, VISION_ENCODER_DECODER, IMAGE_TEXT_TO_TEXT, REMOTE_CODE)
    return "; ".join(f"{kind.name}: {kind.description}" for kind in kinds)


def kind_named(name: str) -> ModelKind | None:
    """The kind whose `name` is `name` (as recorded in an adapter's card), or None."""
    return next((kind for kind in KINDS if kind.name == name), None)


def kind_of_identity(identity: Mapping[str, Any]) -> ModelKind | None:
    """The kind an adapter card's `base_model` identity records, or None where it records none."""
    recorded = identity.get("kind")
    return kind_named(recorded) if isinstance(recorded, str) else None


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


def detect_kind(name: str, trust_remote_code: bool = False) -> DetectedModel:
    """The kind of `ModelConfig.name` (see the module docstring); raises `DeepSynthError` for a
    source DeepSynth cannot fine-tune, naming what it found and what is supported."""
    source = ModelSource.read(name)
    for kind in KINDS:
        if kind.detects(source, trust_remote_code):
            return DetectedModel(kind, source.model_type, source.folder, source)
    raise DeepSynthError(f"model {source.folder}: model_type {source.model_type!r} is not a kind DeepSynth can "
                         f"fine-tune. Supported: {supported_kinds()}")
