"""What shape each tensor of a package must have, from the base model it was trained on.

- `adapter_model.safetensors`: LoRA factors for modules of the decoder PEFT wraps
  (`safetensors_check.expected_adapter_shapes`);
- `projection.safetensors`: the DocumentModel's non-PEFT trainable parts (`parts.*`) and, if the
  text encoder trains, `instruction_encoder.*`;
- `merged/*.safetensors`: the decoder's own parameters (same names and shapes as the base).
Any other weights file matches nothing and is refused.
"""

from __future__ import annotations

from typing import Any, Mapping

from deepsynth.errors import PackageRefused
from deepsynth.adapter_format.files import ADAPTER_WEIGHTS, MODEL_CARD, PROJECTION_WEIGHTS
from deepsynth.adapter_format.safetensors_check import SafetensorsHeader, expected_adapter_shapes, unwrapped_name


def adapter_shapes(base: Any, header: SafetensorsHeader, adapter_config: Mapping[str, Any]) -> dict[str, tuple]:
    """Expected shapes of an adapter file's tensors, each checked under the name PEFT loads it as on
    `base` (`vlm.checkpoint_names`: transformers renames DeepSeek-OCR-2's modules on load)."""
    from deepsynth.models.vlm.checkpoint_names import names_as_loaded

    loaded_as = names_as_loaded(base, adapter_config, header.shapes)
    expected = expected_adapter_shapes(base, adapter_config, list(loaded_as.values()))
    return {saved: expected[loaded] for saved, loaded in loaded_as.items() if loaded in expected}


def _oracle(base: Any, merged: Mapping[str, tuple], projection: Mapping[str, tuple]):
    """The shape each tensor of a package file must have: merged weights, the adapter (checked on
    `base`), DeepSynth's own projection weights; nothing for other files."""

    def oracle(name: str, header: SafetensorsHeader, adapter_config: Mapping[str, Any] | None):
        file = name.rsplit("/", 1)[-1]
        if name.startswith("merged/"):
            return merged
        if file == ADAPTER_WEIGHTS:
            return adapter_shapes(base, header, adapter_config or {})
        if file == PROJECTION_WEIGHTS:
            return projection
        return {}

    return oracle


def oracle_for_model(model: Any):
    """A shape oracle (see `safe_import.ShapeOracle`) for a built `DocumentModel`."""
    base = model.decoder.get_base_model()
    projection = {f"parts.{name}": tuple(tensor.shape)
                  for name, tensor in model.parts["default"].state_dict().items()}
    if model.instruction_encoder is not None:
        projection.update({f"instruction_encoder.{name}": tuple(tensor.shape)
                           for name, tensor in model.instruction_encoder.state_dict().items()})
    merged = {}
    for name, parameter in base.named_parameters():
        if ".lora_" not in name:
            merged[unwrapped_name(name)] = tuple(parameter.shape)

    return _oracle(base, merged, projection)


def oracle_for_skeleton(base: Any):
    """A shape oracle from a base model built on the meta device (shapes, no weights). Merged
    weights hold persistent buffers too (save_pretrained writes them), under the names and shapes
    save_pretrained writes: transformers writes a family it renames on load back under its
    checkpoint names (Qwen2-VL's and DeepSeek-OCR-2's `model.language_model.*` as `model.*`, the
    latter's fused experts split again); `revert_weight_conversion` is that step, identity elsewhere."""
    from transformers.core_model_loading import revert_weight_conversion

    state = revert_weight_conversion(base, dict(base.state_dict(keep_vars=True)))  # meta: names and shapes
    merged = {unwrapped_name(name): tuple(tensor.shape) for name, tensor in state.items()}

    return _oracle(base, merged, projection={})  # a VLM's projector trains through PEFT: no extra file


def oracle_for_card(card: Mapping[str, Any]):
    """Build the base named in a package's deepsynth_model.json and return its shape oracle.

    The package is untrusted: its model config may name a built-in base or a local folder, never
    with `trust_remote_code`; a base that cannot be built refuses the package. A base whose kind can
    be built from its config.json on the meta device (a vision-language model) is, with no weights read."""
    from deepsynth.configuration import ConfigError, from_dict
    from deepsynth.errors import DeepSynthError
    from deepsynth.lora import LoraSettings
    from deepsynth.models import build_document_model
    from deepsynth.models.config import ModelConfig

    model_config = card.get("model_config")
    if not isinstance(model_config, dict):
        raise PackageRefused(f"{MODEL_CARD}: no 'model_config' object")
    try:
        config = from_dict(ModelConfig, {**model_config, "trust_remote_code": False})
    except (ConfigError, TypeError) as error:
        raise PackageRefused(f"{MODEL_CARD}: invalid model_config: {error}") from None
    from deepsynth.models.kinds import detect_kind

    try:
        detected = detect_kind(config.name)
        skeleton = detected.kind.meta_skeleton(detected.source)  # shapes from config.json alone, where the kind can
        if skeleton is not None:
            return oracle_for_skeleton(skeleton)
        model = build_document_model(config, LoraSettings(rank=1, dropout=0.0), "cpu")
    except (DeepSynthError, OSError) as error:
        raise PackageRefused(f"base model {config.name!r} named in {MODEL_CARD} is not available "
                             f"here: {error}") from None
    return oracle_for_model(model)
