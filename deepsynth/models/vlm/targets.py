"""LoRA targets of a vision-language model: what a user types, resolved to the modules it means.

PEFT reads a `target_modules` list as suffixes: `q_proj` matches every module whose name ends in
`.q_proj`, and several vision towers (DeepSeek-OCR-2's, Idefics3's, SmolVLM's) hold attention layers
named so. A user who types `q_proj,v_proj` means the language model's attention; a tower that
quietly trains also runs at every step and can no longer have its features cached. So DeepSynth
reads each name it is given as follows:

- a plain name or dotted suffix (`q_proj`, `self_attn.q_proj`): the linear layers under the
  language model whose path ends with it (never the tower, never the projector);
- a module path, as `named_modules()` lists it (`model.vision_tower.blocks.0.attn.qkv`): that layer;
  a path to a container (`model.multi_modal_projector`, `model.vision_tower`): every linear layer
  under it; a container path plus a leaf name (`model.vision_model.q_proj`): the layers with that
  leaf name under the container. This is the only way to train the tower or the projector with LoRA
  (`model.train_projector` trains the projector in full instead).

The resolved set is handed to PEFT, and saved in `adapter_config.json`, as one regex
(`resolved_pattern`) that matches exactly those module names, so plain PEFT
(`PeftModel.from_pretrained`) places every LoRA layer where DeepSynth did. No torch here: the
estimator resolves the same names over its module inventory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class ResolvedTargets:
    """The modules a list of typed targets reaches (see the module docstring)."""

    modules: tuple[str, ...]
    """Full module names of every linear layer that gets a LoRA adapter, sorted."""
    pattern: str
    """A regex that `re.fullmatch`es exactly `modules` among the model's module names (PEFT's
    string form of `target_modules`)."""
    unmatched: tuple[str, ...] = ()
    """Typed targets that reach no linear layer."""
    outside_language_model: tuple[str, ...] = ()
    """Modules in `modules` outside the language model (named by path: the tower or the projector)."""


def _under(name: str, root: str) -> bool:
    return name.startswith(root + ".") if root else True


def reach(target: str, linear: Sequence[str], containers: set[str], language_model: str) -> list[str]:
    """Full names of the linear layers `target` means (module docstring), in `linear`'s order."""
    if target in containers or target in linear:
        if target in linear:
            return [target]
        return [name for name in linear if _under(name, target)]
    head, _, leaf = target.rpartition(".")
    if head and head in containers:
        return [name for name in linear if _under(name, head) and name.rsplit(".", 1)[-1] == leaf]
    return [name for name in linear if _under(name, language_model) and (name == target or name.endswith("." + target))]


def _suffix_pattern(root: str, leaves: Iterable[str]) -> str:
    prefix = rf"{re.escape(root)}\..*\." if root else r"(?:.*\.)?"
    return prefix + "(" + "|".join(map(re.escape, leaves)) + ")"


def _pattern(modules: Sequence[str], names: Sequence[str], language_model: str) -> str:
    """The shortest regex this module tries that fullmatches `modules` and nothing else in `names`:
    the language model's root and the leaf names (the form DeepSynth has always saved), else every
    module name spelled out."""
    leaves = sorted({name.rsplit(".", 1)[-1] for name in modules})
    compact = _suffix_pattern(language_model, leaves)
    if {name for name in names if re.fullmatch(compact, name)} == set(modules):
        return compact
    return "(" + "|".join(re.escape(name) for name in sorted(modules)) + ")"


def resolve_targets(targets: Sequence[str], linear: Sequence[str], names: Sequence[str],
                    language_model: str) -> ResolvedTargets:
    """`targets` as typed (module docstring) over a model whose module names are `names`, of which
    `linear` are the layers LoRA can adapt, its language model at `language_model`."""
    containers = set(names) - set(linear)
    chosen: set[str] = set()
    unmatched = []
    for target in targets:
        found = reach(target, linear, containers, language_model)
        if found:
            chosen.update(found)
        else:
            unmatched.append(target)
    modules = tuple(sorted(chosen))
    outside = tuple(name for name in modules if not _under(name, language_model))
    pattern = _pattern(modules, names, language_model) if modules else ""
    return ResolvedTargets(modules, pattern, tuple(unmatched), outside)


def default_pattern(language_model: str, leaves: Sequence[str]) -> str:
    """The kind's default targets: these leaf names under the language model."""
    return _suffix_pattern(language_model, leaves)
