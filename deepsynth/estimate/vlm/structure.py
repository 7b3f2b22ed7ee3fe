"""Any image-text-to-text model described from its own structure, built on the meta device.

The per-family descriptions (`vlm/config.py`, `vlm/towers.py`) cover the families of the family
table; every other `model_type` transformers maps to `AutoModelForImageTextToText` is described
here from the model itself: `AutoModelForImageTextToText.from_config` on the meta device (every
module and shape, no weight read, no download), then the LoRA adapter placed exactly as DeepSynth
places it for training (`models/vlm/build.py`: the language model's path from `get_decoder()`, the
targets from `lora_targets`, the projector from `projector_and_tower`, PEFT's `get_peft_model` with
the same arguments), still on the meta device. So the parameter counts are PEFT's own on the real
module tree (rank r adds r x (in + out) per targeted Linear; the projector's copy with
`train_projector`), and the same meta model is what `vlm/structural_step.py` traces a training step
on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from deepsynth.errors import DeepSynthError, InputError
from deepsynth.lora import LoraSettings


@dataclass(frozen=True)
class VlmStructure:
    """What the estimator keeps about a VLM it describes from the model's structure."""

    folder: str
    """The model folder (config.json and the processor's files)."""
    model_type: str
    """config.json's model_type."""
    family: str
    """The name to display: the config class's architecture name ("LlavaForConditionalGeneration"
    -> "Llava"), else the model_type."""
    language_root: str
    """Module path of the language model (`get_decoder()`)."""
    projector: str | None
    """Module path of the projector, None where the model has none DeepSynth can find."""
    tower: str | None
    """Module path of the vision tower."""
    train_projector: bool = False
    """The projector trains in full (PEFT modules_to_save)."""
    encoder_decoder: bool = False
    """The language model is an encoder-decoder (the summary is the decoder's input)."""
    head: str = "lm_head"
    """Module path of the LM head (`get_output_embeddings()`)."""


def model_folder(path: str | Path) -> Path:
    """The folder of a config.json path, or the folder itself."""
    path = Path(path)
    return path.parent if path.is_file() else path


def display_family(config: dict[str, Any]) -> str:
    """A display name from config.json: its architecture class without the head's suffix, else the
    model_type."""
    for name in config.get("architectures") or ():
        for suffix in ("ForConditionalGeneration", "ForImageTextToText", "ForCausalLM", "Model"):
            if isinstance(name, str) and name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)]
    return str(config.get("model_type"))


def _skeleton(folder: Path) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
        with torch.device("meta"):
            return AutoModelForImageTextToText.from_config(config)
    except (ValueError, KeyError, OSError, ImportError, TypeError, AttributeError) as error:
        raise InputError(f"{folder / 'config.json'}: transformers cannot build this image-text-to-text model "
                         f"({type(error).__name__}: {' '.join(str(error).split())[:300]})") from None


def config_stamp(folder: Path) -> tuple[int, int, int]:
    """config.json's size, change and modification times: a cached build is reused only while they hold."""
    stat = (folder / "config.json").stat()
    return stat.st_size, stat.st_ctime_ns, stat.st_mtime_ns


@lru_cache(maxsize=16)
def _parts(folder: str, stamp: tuple[int, int, int]) -> tuple[str, str | None, str | None, bool, str, str]:
    """(language model path, projector, tower, encoder-decoder, class name, LM head path) of the
    folder's model."""
    from deepsynth.models.vlm.build import language_model_path, projector_and_tower

    model = _skeleton(Path(folder))
    try:
        lm_path = language_model_path(model)
        projector, tower = projector_and_tower(model, lm_path)
    except DeepSynthError as error:
        raise InputError(f"{Path(folder) / 'config.json'}: {error}") from None
    output = model.get_output_embeddings()
    head = next((name for name, module in model.named_modules() if module is output), "lm_head")
    return (lm_path, projector, tower, bool(getattr(model.config, "is_encoder_decoder", False)), type(model).__name__,
            head)


def describe(path: str | Path, config: dict[str, Any], train_projector: bool = False) -> VlmStructure:
    """The structure of the VLM in `path` (a folder or its config.json), from its meta-device build
    (kept per folder while its config.json is unchanged)."""
    folder = model_folder(path)
    lm_path, projector, tower, encoder_decoder, class_name, head = _parts(str(folder), config_stamp(folder))
    if train_projector and projector is None:
        raise InputError(f"{folder / 'config.json'}: train_projector: no projector module found in {class_name}")
    return VlmStructure(str(folder), str(config.get("model_type")), display_family(config), lm_path, projector,
                        tower, train_projector, encoder_decoder, head)


@dataclass
class MetaLoraModel:
    """The meta-device model with DeepSynth's LoRA adapter, and what was adapted."""

    peft_model: Any
    """`PeftModel` on the meta device."""
    base_parameters: int
    """Parameters before the adapter (tied weights once)."""
    targets: str
    """The target regex handed to PEFT (as `build_vlm` hands it)."""


@lru_cache(maxsize=4)
def _cached_meta_lora(folder: str, stamp: tuple[int, int, int], lora: LoraSettings,
                      train_projector: bool) -> MetaLoraModel:
    from dataclasses import replace

    # quantization changes how the weights are stored, not the module tree: built unquantized
    return _meta_lora(folder, replace(lora, quantization="none", double_quantization=False), train_projector)


def meta_lora_model(structure: VlmStructure, lora: LoraSettings) -> MetaLoraModel:
    """The structure's model on the meta device with LoRA placed as `models/vlm/build.build_vlm`
    places it (cached: the counts and the step trace share one build)."""
    return _cached_meta_lora(structure.folder, config_stamp(Path(structure.folder)), lora, structure.train_projector)


def _meta_lora(folder: str, lora: LoraSettings, train_projector: bool) -> MetaLoraModel:
    from peft import LoraConfig, get_peft_model

    from deepsynth.configuration import ConfigError
    from deepsynth.models.vlm.build import (_check_rank, language_model_path, lora_targets, peft_settings,
                                            projector_and_tower)

    model = _skeleton(Path(folder))
    base = sum(p.numel() for p in model.parameters())
    lm_path = language_model_path(model)
    try:
        targets = lora_targets(model, lora, lm_path)
        _check_rank(model, targets, lora.rank)
    except DeepSynthError as error:
        raise ConfigError([("target_modules", str(error))], "LoRA settings") from None
    projector, _ = projector_and_tower(model, lm_path)
    model.requires_grad_(False)
    # the settings training gives PEFT (targets + exclude_modules: PEFT rewrites a regex into leaf
    # names for MoE models, which would also reach e.g. Qwen3-Omni's audio tower)
    kwargs = peft_settings(lora, targets, projector if train_projector else None)
    return MetaLoraModel(get_peft_model(model, LoraConfig(**kwargs)), base, targets)


def structural_parameters(structure: VlmStructure, lora: LoraSettings):
    """`ParameterCount` of the model with DeepSynth's adapter, counted as PEFT counts it
    (`named_parameters()`, tied weights once) on the meta-device build."""
    from deepsynth.estimate.inventory import LINEAR, Module
    from deepsynth.estimate.params import ParameterCount, TargetMatch

    built = meta_lora_model(structure, lora)
    peft_model = built.peft_model
    total = trainable = adapter = copy = 0
    by_group: dict[str, int] = {}
    quantizable = sum(peft_model.get_parameter(name).numel() for name in quantizable_weights(peft_model, structure))
    for name, parameter in peft_model.named_parameters():
        numel = parameter.numel()
        total += numel
        trainable += numel if parameter.requires_grad else 0
        if ".lora_" in name:
            adapter += numel
            continue
        if ".modules_to_save." in name:
            copy += numel
            continue
        group = _group(name, structure)
        by_group[group] = by_group.get(group, 0) + numel
    adapted = []
    for name, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "base_layer") and "default" in getattr(module, "lora_A", {}):
            layer = module.base_layer
            inner = _inner_name(name)
            adapted.append(Module(inner, LINEAR, int(getattr(layer, "in_features", 0)),
                                  int(getattr(layer, "out_features", 0)), getattr(layer, "bias", None) is not None,
                                  group=_group(inner + ".weight", structure)))
    leaves = tuple(dict.fromkeys(m.name.rsplit(".", 1)[-1] for m in adapted))
    match = TargetMatch(leaves, (), (), tuple(adapted))
    return ParameterCount(total, trainable, adapter, built.base_parameters, quantizable, by_group, match, copy)


def quantizable_weights(peft_model: Any, structure: VlmStructure) -> set[str]:
    """Names (in the PeftModel) of the weights bitsandbytes stores quantized under QLoRA: those of
    the language model's Linear layers (`build.load_vlm` skips the tower, the projector and the LM head)."""
    import torch

    root = f".{structure.language_root}."
    return {f"{name}.weight" for name, module in peft_model.named_modules()
            if isinstance(module, torch.nn.Linear) and root in f".{_inner_name(name)}"
            and ".lora_" not in name and ".modules_to_save." not in name}


def _inner_name(peft_name: str) -> str:
    """A module name inside the PeftModel -> its name in the plain model."""
    for prefix in ("base_model.model.",):
        if peft_name.startswith(prefix):
            return peft_name[len(prefix):]
    return peft_name


def _group(name: str, structure: VlmStructure) -> str:
    inner = _inner_name(name)
    if inner.startswith(structure.language_root + ".") or inner.startswith(structure.head + "."):
        return "decoder"
    if structure.projector and inner.startswith(structure.projector + "."):
        return "projector"
    return "vision"  # the tower and what else sits outside the language model (image separators, norms)
