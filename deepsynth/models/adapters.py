"""Adapter folders on disk (the contract in docs/ARCHITECTURE.md, "Adapter on disk").

    adapter_model.safetensors   vanilla PEFT LoRA weights (`PeftModel.from_pretrained(base, dir)`)
    adapter_config.json         vanilla PEFT config
    projection.safetensors      trainable non-PEFT parts (projections, a trained text encoder)
    deepsynth_model.json        ModelConfig, base model identity, reader identity, caller extras

Written into a temporary sibling folder and renamed into place, so a crash never leaves half an
adapter; safetensors only (no pickle).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from deepsynth.adapter_format.files import (
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, MODEL_CARD, PROJECTION_WEIGHTS, check_adapter_folder)
from deepsynth.configuration import to_dict
from deepsynth.errors import InputError


@contextmanager
def atomic_folder(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it replaces `target` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _non_peft_state(model: Any, adapter_name: str) -> dict[str, Any]:
    """Trainable tensors outside PEFT: this adapter's projections, a trained text encoder."""
    state = {f"parts.{key}": value for key, value in model.parts[adapter_name].state_dict().items()}
    if model.instruction_encoder is not None and model.config.train_text_encoder:
        state.update({f"instruction_encoder.{key}": value
                      for key, value in model.instruction_encoder.state_dict().items()})
    return state


def save_adapter(model: Any, folder: str | Path, extra: dict[str, Any]) -> Path:
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    name = model.active_adapter
    peft_config = model.decoder.peft_config[name]
    lora_state = get_peft_model_state_dict(model.decoder, adapter_name=name)
    parts_state = _non_peft_state(model, name)
    card = {
        "model_config": to_dict(model.config),
        "base_model": model.identity,
        "reader": model.reader.identity(),
        "adapter_name": name,
        "target_modules": (peft_config.target_modules if isinstance(peft_config.target_modules, str)
                           else sorted(peft_config.target_modules or [])),
        "projection_tensors": sorted(parts_state),
        **extra,
    }
    with atomic_folder(folder) as staging:
        save_file({k: v.detach().cpu().contiguous() for k, v in lora_state.items()},
                  str(staging / ADAPTER_WEIGHTS), metadata={"format": "pt"})
        peft_config.save_pretrained(str(staging))
        if parts_state:
            save_file({k: v.detach().cpu().contiguous() for k, v in parts_state.items()},
                      str(staging / PROJECTION_WEIGHTS), metadata={"format": "pt"})
        (staging / MODEL_CARD).write_text(json.dumps(card, indent=2, default=str))
    return Path(folder)


def load_adapter(model: Any, folder: str | Path, adapter_name: str) -> None:
    from safetensors.torch import load_file

    folder = Path(folder)
    check_adapter_folder(folder, required=(ADAPTER_WEIGHTS, ADAPTER_CONFIG))
    if adapter_name in model.parts:
        raise InputError(f"an adapter named {adapter_name!r} is already loaded")
    parts = model._make_parts().to(model.device)
    projection_file = folder / PROJECTION_WEIGHTS
    if projection_file.is_file():
        state = load_file(str(projection_file))
        parts_state = {k.removeprefix("parts."): v for k, v in state.items() if k.startswith("parts.")}
        try:
            parts.load_state_dict(parts_state, strict=True)
        except RuntimeError as error:
            raise InputError(f"{projection_file}: does not fit this model ({error})") from error
        encoder_state = {k.removeprefix("instruction_encoder."): v for k, v in state.items()
                         if k.startswith("instruction_encoder.")}
        if encoder_state and model.instruction_encoder is not None:
            model.instruction_encoder.load_state_dict(encoder_state, strict=True)
    elif len(list(parts.parameters())):
        raise InputError(f"{projection_file}: missing, but this model has trainable projections")
    model.decoder.load_adapter(str(folder), adapter_name=adapter_name, is_trainable=False)
    model.parts[adapter_name] = parts.requires_grad_(False)
