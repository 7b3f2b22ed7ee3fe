"""LoRA tensor names an adapter must carry so that vanilla PEFT loads it onto a VLM that transformers
renames on load.

transformers 5 loads some checkpoints under new module names and writes them back under the old
ones (`revert_weight_conversion`): DeepSeek-OCR-2's `model.layers.*` become
`model.language_model.layers.*` in memory. PEFT 0.21 applies the same renaming to an adapter's
LoRA tensor names when it loads them (`convert_peft_adapter_state_dict_for_transformers`), but
saves them under the in-memory names, which the renaming then mangles
(`model.language_model.language_model.layers.*`): the LoRA weights are dropped with a "missing
adapter keys" warning and the model runs as the base. So DeepSynth writes LoRA names as transformers
writes the base's weights, checks that PEFT's loader maps them back onto exactly the trained
tensors, and refuses to write an adapter PEFT would lose. Families without a renaming (Qwen2-VL,
Qwen2.5-VL, SmolVLM, Idefics3, Florence-2 in transformers 5.23) keep PEFT's names.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from deepsynth.errors import DeepSynthError

PEFT_PREFIX = "base_model.model."


def _renamed_on_load(base: Any, peft_config: Any, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The adapter tensors under the names PEFT's loader gives them on `base`."""
    from peft.utils.transformers_weight_conversion import convert_peft_adapter_state_dict_for_transformers

    return convert_peft_adapter_state_dict_for_transformers(base, peft_config, dict(tensors))


def renames_on_load(base: Any) -> bool:
    """Whether transformers (and so PEFT's adapter loader) renames this family's weights on load."""
    from transformers.conversion_mapping import get_checkpoint_conversion_mapping

    return get_checkpoint_conversion_mapping(getattr(base.config, "model_type", None)) is not None


def loadable_state(peft_model: Any, state: dict[str, torch.Tensor], adapter_name: str) -> dict[str, torch.Tensor]:
    """`state` (PEFT's saved names) renamed, where needed, so that `PeftModel.from_pretrained` puts
    every tensor back where it was trained (see the module docstring)."""
    from transformers.core_model_loading import revert_weight_conversion

    base = peft_model.get_base_model()
    if not renames_on_load(base):
        return state
    peft_config = peft_model.peft_config[adapter_name]
    if set(_renamed_on_load(peft_model, peft_config, state)) == set(state):
        return state
    lora = {name[len(PEFT_PREFIX):]: tensor for name, tensor in state.items()
            if ".lora_" in name and name.startswith(PEFT_PREFIX)}
    reverted = revert_weight_conversion(base, lora)
    candidate = {**{PEFT_PREFIX + name: tensor for name, tensor in reverted.items()},
                 **{name: tensor for name, tensor in state.items() if name[len(PEFT_PREFIX):] not in lora}}
    loaded = _renamed_on_load(peft_model, peft_config, candidate)
    if set(loaded) != set(state) or any(not torch.equal(loaded[name], state[name]) for name in state):
        lost = sorted(set(state) - set(loaded))[:3]
        raise DeepSynthError(f"{type(base).__name__}: PEFT {_peft_version()} would not load this adapter's "
                             f"LoRA weights back ({', '.join(lost) or 'values differ'}); nothing written")
    return candidate


def names_as_loaded(base: Any, adapter_config: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]) -> dict[str, str]:
    """{name in the file: name PEFT loads it as on `base`} for an adapter file's tensor names and
    shapes (meta tensors: no weights read). Identity for families that are not renamed."""
    from peft import LoraConfig

    if not renames_on_load(base):
        return {name: name for name in shapes}
    known = set(LoraConfig.__dataclass_fields__)
    peft_config = LoraConfig(**{key: value for key, value in adapter_config.items()
                                if key in known and key in ("r", "lora_alpha", "target_modules", "modules_to_save")})
    result = {}
    for name, shape in shapes.items():  # one at a time: each name's own new name
        renamed = _renamed_on_load(base, peft_config, {name: torch.empty(shape, device="meta")})
        result[name] = next(iter(renamed)) if len(renamed) == 1 else name
    return result


def _peft_version() -> str:
    from importlib.metadata import version

    return version("peft")
