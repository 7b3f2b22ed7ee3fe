"""Exact parameter counts with LoRA, counted the way PEFT counts them, and the checks that need them.

PEFT's `get_nb_trainable_parameters` sums `numel()` over `named_parameters()` (tied weights once)
after wrapping each targeted module; the adapter sizes below are the shapes PEFT creates
(peft/tuners/lora/layer.py): Linear/Conv1D `A: r x in`, `B: out x r`; Embedding `A: r x rows`,
`B: width x r`; Conv2d/Conv3d `A: r x in x kernel`, `B: out x r/groups x 1 x 1`; fused expert parameters
(`target_parameters`, ParamWrapper) `A: (r*E) x in`, `B: out x (r*E)`. Tests compare every count
with PEFT's own on tiny models of several families.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deepsynth.configuration import Problems
from deepsynth.estimate.architecture import Architecture, TransformerShape
from deepsynth.estimate.inventory import CONV2D, EMBEDDING, EXPERTS, LINEAR, Inventory, Module
from deepsynth.estimate.model_inventory import architecture_inventory
from deepsynth.lora import LoraSettings

# peft/utils/constants.py TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING (PEFT 0.21)
PEFT_DEFAULT_TARGETS = {
    "llama": ("q_proj", "v_proj"), "mistral": ("q_proj", "v_proj"), "qwen2": ("q_proj", "v_proj"),
    "qwen3": ("q_proj", "v_proj"), "gpt2": ("c_attn",), "bert": ("query", "value"),
}


def default_targets(shape: TransformerShape) -> tuple[str, ...]:
    """PEFT's default targets for the family; families PEFT has none for get the query/value pair."""
    if shape.family in PEFT_DEFAULT_TARGETS:
        return PEFT_DEFAULT_TARGETS[shape.family]
    if shape.is_mla:
        return ("q_b_proj" if shape.q_lora_rank else "q_proj", "kv_b_proj")
    return ("q_proj", "v_proj")


def resolve_targets(arch: Architecture, lora: LoraSettings, inventory: Inventory | None = None) -> tuple[str, ...]:
    """The targets as PEFT gets them: the user's names, else the family's defaults. For a native VLM
    the default is every Linear layer of the language model, by full module path (never the tower),
    and the user's names are read as DeepSynth's VLM model reads them (`vlm_typed_targets`)."""
    if lora.target_modules and arch.vlm is not None:
        return vlm_typed_targets(arch, lora.target_modules, inventory or architecture_inventory(arch))
    if lora.target_modules:
        return tuple(lora.target_modules)
    if arch.vlm is not None:
        return vlm_default_targets(arch, inventory or architecture_inventory(arch))
    return default_targets(arch.decoder)


def vlm_typed_targets(arch: Architecture, typed: tuple[str, ...], inventory: Inventory) -> tuple[str, ...]:
    """A VLM's typed targets as full module names, read as DeepSynth's VLM model reads them
    (`models/vlm/targets.py`: a plain name reaches the language model only, a module path reaches
    where it points); a plain name that reaches nothing is returned under the language model's path
    (`match_targets` reports it unmatched, naming where it was looked for)."""
    from deepsynth.models.vlm.targets import resolve_targets as resolve_typed

    names = [m.name for m in inventory.modules if m.kind != EXPERTS]
    linear = [m.name for m in inventory.modules if m.kind == LINEAR]
    containers = {name.rsplit(".", depth)[0] for name in names for depth in range(1, name.count(".") + 1)}
    resolved = resolve_typed(typed, linear, sorted(set(names) | containers), arch.vlm.language_root)
    return resolved.modules + tuple(f"{arch.vlm.language_root}.{name}" for name in resolved.unmatched)


def language_linear_modules(inventory: Inventory) -> tuple[str, ...]:
    """Full names of the language model's Linear layers (the LM head excluded)."""
    return tuple(m.name for m in inventory.modules
                 if m.group == "decoder" and m.kind == LINEAR and m.name != "lm_head" and m.in_features)


def vlm_default_targets(arch: Architecture, inventory: Inventory) -> tuple[str, ...]:
    """A VLM's default LoRA targets, as DeepSynth's VLM model chooses them (models/vlm/build.py
    `lora_targets`): the text model family's suffixes (DeepSynth's FAMILY_TARGETS, then PEFT's table),
    else q_proj + v_proj, else every `*proj` layer, all restricted to the language model by path.
    Returned as full module names (PEFT matches them exactly)."""
    from deepsynth.models.builtin.decoder import FAMILY_TARGETS

    linear = language_linear_modules(inventory)
    available = {name.rsplit(".", 1)[-1] for name in linear}
    family = arch.vlm.text_model_type
    leaves = tuple(FAMILY_TARGETS.get(family) or PEFT_DEFAULT_TARGETS.get(family) or ())
    leaves = (tuple(leaf for leaf in leaves if leaf in available)
              or tuple(leaf for leaf in ("q_proj", "v_proj") if leaf in available)
              or tuple(leaf for leaf in sorted(available) if leaf.endswith("proj")))
    return tuple(name for name in linear if name.rsplit(".", 1)[-1] in leaves)


def remap_family(arch: Architecture) -> str:
    """The model_type PEFT's transformers-v5 target conversion keys on (the composite's, for a VLM)."""
    return arch.vlm.model_type if arch.vlm is not None else arch.decoder.family


def _matches(name: str, target: str) -> bool:
    # peft check_target_module_exists, list form: exact key or dotted suffix
    return name == target or name.endswith("." + target)


# PEFT 0.21 under transformers 5 (peft/utils/transformers_weight_conversion.py): for model types whose
# transformers conversion pattern is "qwen2_moe" (deepseek_v2 among ours; qwen2_moe itself is not in
# the table), targets naming the v4 expert modules are moved onto the fused expert parameters, and
# so no longer reach the dense or shared-expert MLPs; gate_proj + up_proj become one `gate_up_proj`
# target with rank 2r (and alpha 2a); naming only one of the two is an error.
_PEFT_V4_EXPERT_NAMES = {"gate_proj": "gate_up_proj", "up_proj": "gate_up_proj", "down_proj": "down_proj"}
_PEFT_REMAPPED_FAMILIES = ("deepseek_v2",)


@dataclass(frozen=True)
class TargetMatch:
    """Which modules the targets reach, split the way PEFT's LoraConfig needs them."""

    target_modules: tuple[str, ...]
    """Targets to pass as PEFT `target_modules` (they name modules, or v4 expert names PEFT remaps)."""
    target_parameters: tuple[str, ...]
    """Targets that only name fused expert parameters: pass as PEFT `target_parameters`."""
    unmatched: tuple[str, ...]
    """Targets that reach nothing adaptable."""
    adapted: tuple[Module, ...]
    """Every module (or fused parameter) that gets an adapter."""
    rank_factor: dict[str, int] = field(default_factory=dict)
    """Modules whose rank PEFT multiplies (fused gate_up_proj: 2)."""
    errors: tuple[str, ...] = ()
    """Target combinations PEFT refuses."""

    @property
    def summary(self) -> str:
        """The targets in a few words: leaf names, and where they sit when given by full path."""
        names = self.target_modules + self.target_parameters
        leaves = list(dict.fromkeys(name.rsplit(".", 1)[-1] for name in names))
        if len(leaves) == len(names):
            return ",".join(names)
        roots = sorted({name.split(".layers.")[0] for name in names if ".layers." in name})
        return f"{','.join(leaves)} in {' + '.join(roots) or 'the model'} ({len(names)} modules)"


def match_targets(inventory: Inventory, targets: tuple[str, ...], family: str = "") -> TargetMatch:
    modules = [m for m in inventory.modules if m.kind != EXPERTS]
    fused = [m for m in inventory.modules if m.kind == EXPERTS]
    kept, remapped, errors = _peft_moe_remap(targets, family if fused else "")
    as_modules = [t for t in targets if t not in kept]  # handed to PEFT as modules, remapped by PEFT
    as_parameters, unmatched = [], []
    for target in kept:
        if any(_matches(m.name, target) for m in modules):
            as_modules.append(target)
        elif any(_matches(m.name, target) for m in fused):
            as_parameters.append(target)
        else:
            unmatched.append(target)
    reach_modules = [t for t in as_modules if t in kept]
    reach_fused = as_parameters + list(remapped)
    adapted = tuple(m for m in modules if any(_matches(m.name, t) for t in reach_modules)) + tuple(
        m for m in fused if any(_matches(m.name, t) for t in reach_fused))
    factor = {m.name: 2 for m in adapted if remapped.get("gate_up_proj") == 2 and m.name.endswith(".gate_up_proj")}
    return TargetMatch(tuple(as_modules), tuple(as_parameters), tuple(unmatched), adapted, factor, errors)


def _peft_moe_remap(targets: tuple[str, ...], family: str) -> tuple[tuple[str, ...], dict[str, int], tuple[str, ...]]:
    if family not in _PEFT_REMAPPED_FAMILIES:
        return targets, {}, ()
    kept, named = [], set()
    for target in targets:
        old = next((o for o in _PEFT_V4_EXPERT_NAMES if target == o or target.endswith("." + o)), None)
        if old is None:
            kept.append(target)
        else:
            named.add(old)
    remapped = {_PEFT_V4_EXPERT_NAMES[o]: 1 for o in named}
    errors = ()
    pair = {"gate_proj", "up_proj"} & named
    if len(pair) == 1:
        errors = (f"{pair.pop()} is fused with {({'gate_proj', 'up_proj'} - named).pop()} into gate_up_proj "
                  "in this model: target both or neither",)
    elif pair:
        remapped["gate_up_proj"] = 2
    return tuple(kept), remapped, errors


def adapter_size(module: Module, rank: int) -> int:
    """Parameters PEFT adds to one module for rank r."""
    if module.kind == EMBEDDING:
        return rank * (module.in_features + module.out_features)
    if module.kind == CONV2D:
        # lora_A: Conv(in, r, kernel); lora_B: Conv(r, out, 1, groups=groups) -> out x r/groups weights
        return rank * module.in_features * module.kernel_area + module.out_features * (rank // module.groups)
    if module.kind == EXPERTS:
        return rank * module.experts * (module.in_features + module.out_features)
    return rank * (module.in_features + module.out_features)


@dataclass(frozen=True)
class ParameterCount:
    """Parameter counts of the model with adapters attached."""

    total: int
    """All parameters, adapters included (PEFT's `all_param` for the same model)."""
    trainable: int
    """Parameters that train: adapters, biases per `bias`, trainable projection."""
    adapter: int
    """LoRA A/B parameters only."""
    base: int
    """Parameters of the model without adapters."""
    quantizable: int
    """Base weights that bitsandbytes would store quantized (Linear layers but the LM head)."""
    by_group: dict[str, int]
    """Base parameters per part: decoder, vision, projector."""
    match: TargetMatch
    """What the targets reached."""
    modules_to_save: int = 0
    """Parameters of trainable module copies (a VLM projector trained in full), in `total` and `trainable`."""


def count_parameters(arch: Architecture, lora: LoraSettings, inventory: Inventory | None = None) -> ParameterCount:
    if arch.structure is not None:  # PEFT's own count on the meta-device build
        from deepsynth.estimate.vlm.structure import structural_parameters

        return structural_parameters(arch.structure, lora)
    inventory = inventory or architecture_inventory(arch)
    match = match_targets(inventory, resolve_targets(arch, lora, inventory), remap_family(arch))
    adapter = sum(adapter_size(m, lora.rank * match.rank_factor.get(m.name, 1)) for m in match.adapted)
    # PEFT modules_to_save: a trainable copy of the VLM projector beside the frozen original
    saved_copy = projector_copy(arch, inventory)
    trainable = adapter + saved_copy
    if lora.bias == "all":
        trainable += sum(p.numel for p in inventory.parameters if p.name.endswith(".bias"))
    elif lora.bias == "lora_only":
        adapted_bias = {f"{m.name}.bias" for m in match.adapted if m.bias}
        trainable += sum(p.numel for p in inventory.parameters if p.name in adapted_bias)
    if arch.projector is not None and arch.projector.trainable:
        trainable += sum(p.numel for p in inventory.parameters if p.group == "projector"
                         and not (lora.bias == "all" and p.name.endswith(".bias")))
    by_group: dict[str, int] = {}
    for p in inventory.parameters:
        by_group[p.group] = by_group.get(p.group, 0) + p.numel
    base = inventory.total
    quantizable = sum(p.numel for p in inventory.parameters if p.quantized_by)
    return ParameterCount(base + adapter + saved_copy, trainable, adapter, base, quantizable, by_group, match,
                          saved_copy)


def projector_copy(arch: Architecture, inventory: Inventory) -> int:
    """Parameters of the trainable projector copy PEFT's `modules_to_save` adds (0 when frozen)."""
    if arch.vlm is None or not arch.vlm.train_projector:
        return 0
    return sum(p.numel for p in inventory.parameters if p.group == "projector")


def validate_lora_for(arch: Architecture, lora: LoraSettings, inventory: Inventory | None = None) -> TargetMatch:
    """Checks that need the architecture; raises one ConfigError listing every problem."""
    inventory = inventory or architecture_inventory(arch)
    match = match_targets(inventory, resolve_targets(arch, lora, inventory), remap_family(arch))
    problems = Problems("LoRA settings for " + arch.name)
    for error in match.errors:
        problems.add("target_modules", error)
    if match.unmatched:
        problems.add("target_modules", f"no module matches {', '.join(match.unmatched)} "
                     f"(modules here include {', '.join(sorted(_leaf_names(inventory))[:12])})")
    if match.adapted:
        smallest = min(min(m.in_features, m.out_features) for m in match.adapted)
        problems.check(lora.rank <= smallest, "rank",
                       f"rank {lora.rank} exceeds the smallest targeted dimension ({smallest})")
    problems.raise_if_any()
    return match


def _leaf_names(inventory: Inventory) -> set[str]:
    names = {m.name.rsplit(".", 1)[-1] for m in inventory.modules if m.kind != EXPERTS and m.group == "decoder"}
    return {name for name in names if not name.isdigit()}
