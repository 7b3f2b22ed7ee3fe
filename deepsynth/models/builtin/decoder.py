"""Loading the decoder (the causal LM that LoRA adapts) and choosing its LoRA target modules.

Sources: `tiny` (random, from a config), `default` (SmolLM2-135M-Instruct converted once from the
bundled GGUF, see `conversion.py`), or a local Hugging Face model directory (or a hub id where the
hub is reachable). QLoRA: bitsandbytes quantizes weights only when a model is loaded with
`from_pretrained(..., quantization_config=...)` (`from_config` ignores it), so the tiny model is
saved to a temporary folder first when it must be quantized.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepsynth.errors import DeepSynthError
from deepsynth.lora import LoraSettings

# LoRA targets per model family when the user names none; PEFT's own table covers the rest.
FAMILY_TARGETS: dict[str, tuple[str, ...]] = {
    "llama": ("q_proj", "v_proj"),
    "mistral": ("q_proj", "v_proj"),
    "qwen2": ("q_proj", "v_proj"),
    "qwen3": ("q_proj", "v_proj"),
    "gemma": ("q_proj", "v_proj"),
    "gemma2": ("q_proj", "v_proj"),
    "phi3": ("qkv_proj",),
    "gpt2": ("c_attn",),
    "deepseek_v2": ("q_proj", "kv_b_proj"),
    "deepseek_vl_v2": ("q_proj", "kv_b_proj"),
    "trocr": ("q_proj", "v_proj"),
}


@dataclass
class LoadedDecoder:
    """A decoder ready for LoRA, its tokenizer, and what identifies its weights."""

    model: Any
    tokenizer: Any
    identity: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    """Folder the weights were loaded from (None for the in-memory tiny model)."""


def default_targets(model: Any) -> tuple[str, ...]:
    """LoRA target modules for a model family: our table, then PEFT's, then every attention linear."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TABLE

    model_type = getattr(model.config, "model_type", "")
    if model_type in FAMILY_TARGETS:
        return FAMILY_TARGETS[model_type]
    if model_type in PEFT_TABLE:
        return tuple(PEFT_TABLE[model_type])
    import torch

    names = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                    if isinstance(module, torch.nn.Linear) and "proj" in name.rsplit(".", 1)[-1]
                    and "lm_head" not in name})
    if not names:
        raise DeepSynthError(
            f"cannot choose LoRA target modules for model type {model_type!r}: "
            "set target_modules (e.g. --target-modules q_proj,v_proj)")
    return tuple(names)


def check_lora_fit(model: Any, targets: tuple[str, ...] | list[str], rank: int, prefix: str = "") -> None:
    """Refuse, naming the fields, LoRA targets that match no linear layer of `model` and a rank
    larger than the smallest targeted dimension (the rule `deepsynth estimate` applies), before
    PEFT would raise its own error (or silently build a rank wider than the layer).

    Matching follows PEFT's: a target matches a module whose dotted name equals it or ends with
    `.target`. `prefix` restricts the search (e.g. `decoder.` in an encoder-decoder)."""
    from deepsynth.configuration import Problems

    dims: dict[str, list[int]] = {target: [] for target in targets}
    leaves: set[str] = set()
    for name, module in model.named_modules():
        if not name.startswith(prefix):
            continue
        size = _linear_dims(module)
        if size is None:
            continue
        leaves.add(name.rsplit(".", 1)[-1])
        for target in targets:
            if name == target or name.endswith("." + target):
                dims[target].extend(size)
    problems = Problems("LoRA settings")
    unmatched = [target for target, found in dims.items() if not found]
    if unmatched:
        problems.add("target_modules",
                     f"no linear layer of this model matches {', '.join(unmatched)} "
                     f"(its layers include {', '.join(sorted(leaves)[:12])})")
    matched = [d for found in dims.values() for d in found]
    if matched and rank > min(matched):
        problems.add("rank", f"rank {rank} exceeds the smallest targeted dimension ({min(matched)})")
    problems.raise_if_any()


def _linear_dims(module: Any) -> tuple[int, int] | None:
    """(in, out) features of a layer LoRA can adapt (nn.Linear, bitsandbytes Linear4bit/8bitLt,
    GPT-2's Conv1D), else None."""
    inputs, outputs = getattr(module, "in_features", None), getattr(module, "out_features", None)
    if isinstance(inputs, int) and isinstance(outputs, int):
        return inputs, outputs
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf") and hasattr(module, "nx"):
        return int(module.nx), int(module.nf)
    return None


def quantization_config(lora: LoraSettings):
    """bitsandbytes settings for QLoRA, or None for an unquantized base."""
    if not lora.is_quantized:
        return None
    import torch
    from transformers import BitsAndBytesConfig

    if lora.quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=lora.quantization,
        bnb_4bit_use_double_quant=lora.double_quantization,
        bnb_4bit_compute_dtype=getattr(torch, lora.compute_dtype))


def _weights_dtype(device: str):
    import torch

    # fp32 on CPU (no bf16 hardware here: bf16 was ~2x slower), bf16 on CUDA.
    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def load_from_folder(path: str | Path, lora: LoraSettings, device: str = "cpu",
                     trust_remote_code: bool = False) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a local folder (or hub id), quantized if asked."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quant = quantization_config(lora)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map=str(device))
    else:
        kwargs.update(dtype=_weights_dtype(device))
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
        except ValueError:
            if not trust_remote_code:
                raise
            # DeepSeek-OCR's remote code registers its causal LM under AutoModel only.
            from transformers import AutoModel

            model = AutoModel.from_pretrained(str(path), **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except OSError as error:
        raise DeepSynthError(f"cannot load model {path}: {error}") from error
    if quant is None:
        model = model.to(device)
    return model, tokenizer


def load_tiny(lora: LoraSettings, device: str = "cpu") -> LoadedDecoder:
    from deepsynth.models.builtin.tiny import tiny_decoder, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = tiny_decoder(len(tokenizer))
    identity = {"decoder": "tiny-llama (random, seeded)", "seed": "tiny"}
    if not lora.is_quantized:
        return LoadedDecoder(model.to(device), tokenizer, identity)
    with tempfile.TemporaryDirectory(prefix="deepsynth-tiny-") as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        quantized, _ = load_from_folder(folder, lora, device)
    return LoadedDecoder(quantized, tokenizer, identity)


def load_default(lora: LoraSettings, device: str = "cpu") -> LoadedDecoder:
    from deepsynth.models.builtin.conversion import converted_smollm2

    folder, identity = converted_smollm2()
    model, tokenizer = load_from_folder(folder, lora, device)
    return LoadedDecoder(model, tokenizer, identity, path=str(folder))


def load_local(name: str, lora: LoraSettings, device: str = "cpu",
               trust_remote_code: bool = False) -> LoadedDecoder:
    from deepsynth.hub_models import commit_of, model_files
    from deepsynth.hub_offline import is_hub_id

    if not Path(name).expanduser().exists() and not is_hub_id(name):
        raise DeepSynthError(f"model {name!r}: no such folder (and not a hub id ORG/NAME[@REVISION])")
    path = model_files(name)  # a local folder, or a hub id's snapshot in the HF cache
    model, tokenizer = load_from_folder(path, lora, device, trust_remote_code=trust_remote_code)
    identity = {"decoder": str(path)}
    if commit_of(path):
        identity["revision"] = commit_of(path)
    return LoadedDecoder(model, tokenizer, identity, path=str(path))


def load_decoder(name: str, lora: LoraSettings, device: str = "cpu",
                 trust_remote_code: bool = False) -> LoadedDecoder:
    """The decoder for `ModelConfig.name`, with a pad token set."""
    if name == "tiny":
        loaded = load_tiny(lora, device)
    elif name == "default":
        loaded = load_default(lora, device)
    else:
        loaded = load_local(name, lora, device, trust_remote_code)
    tokenizer = loaded.tokenizer
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return loaded
