"""The general VLM path: the model's own forward on the processor's full output, one document per call.

DeepSynth's fast path hands cached `get_image_features` output to the inner model as
`mm_encoder_outputs` (`vlm.model`). A family whose forward needs more than that (a model without
`get_image_features`, cross-attention to the image, vision outputs with extra fields, a processor
output the forward must see) is trained here instead, from what the model and the processor say:

- the forward is the model's own (`model(**inputs)`), its inputs everything the processor returned
  for the document's prompt opening (pixels and every extra), with the processor's per-token tensors
  (a tensor whose second dimension is the token count: `mm_token_type_ids`, `token_type_ids`,
  `image_attention_mask`, `image_embeds_position_mask` ...) extended over the instruction, the
  template and the target (`extend_per_token`): each appended prompt token takes the value the
  processor gives a text token after the opening, each target token the value it gives a `suffix`
  where it takes one (PaliGemma marks the answer apart from the prefix), else the same (both asked
  of the processor once, `VlmPageReader.appended_values`);
- one document per forward call (page layouts batch differently from family to family), the
  cross-entropy over every target token of the batch, the LM head on the last positions only
  (`logits_to_keep`, where the forward takes it: the targets end each row);
- the tower's features are cached as the output of the vision tower modules themselves
  (`tower_modules`: the outermost modules outside the language model named like a vision tower or
  an image tokenizer), captured while the model reads the document (`capture_tower_outputs`,
  stopped where the language model starts when the tower is outside it) and substituted for the
  tower's `forward` (or `encode`, an image tokenizer's) at every step (`replayed_towers`): the tower
  is frozen, so its output is a function of the pixels alone;
- a forward whose logits do not follow its input tokens (one token fewer must give one logit
  fewer: a block-diffusion model's are over a canvas of its own) is refused by name on the first
  row (`VlmDocumentModel._check_logits_follow_tokens`) rather than trained on noise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import re
from functools import lru_cache
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from deepsynth.errors import DeepSynthError

TOWER_SUFFIXES = ("vision_model", "vision_tower", "visual", "vision_encoder", "image_encoder", "vqmodel")
"""How transformers' VLMs name their vision towers (a leaf name ending with one of these); an image
tokenizer (`vqmodel`: Chameleon's and Emu3's VQ-VAE, which turns the page into code tokens) is
frozen and read like one."""
ENTRY_METHODS = ("forward", "encode")
"""The methods through which a model calls its tower: `forward`, or `encode` (an image tokenizer:
Chameleon's and Emu3's `vqmodel.encode`). Their outermost calls are recorded and replayed."""
OWN_KEYS = ("input_ids", "attention_mask", "labels")
"""Processor outputs DeepSynth builds itself per row (the ids, mask and labels of the whole row)."""


def tower_modules(model: nn.Module, lm_path: str) -> list[str]:
    """Paths of the outermost modules named like a vision tower (`TOWER_SUFFIXES`), outside the
    language model unless the language model holds the whole model (GIT, IDEFICS: then inside it)."""
    found: list[str] = []
    for name, _ in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if not name or not leaf.endswith(TOWER_SUFFIXES):
            continue
        if any(name.startswith(parent + ".") for parent in found):
            continue
        if lm_path and (name.startswith(lm_path + ".") and not _holds_everything(model, lm_path)):
            continue
        found.append(name)
    return found


def _holds_everything(model: nn.Module, lm_path: str) -> bool:
    """Whether the language model module holds the vision tower too (GIT, IDEFICS)."""
    lm = model.get_submodule(lm_path)
    return any(name.rsplit(".", 1)[-1].endswith(TOWER_SUFFIXES) for name, _ in lm.named_modules() if name)


def towers_inside(model: Any, lm_path: str) -> list[str]:
    """Vision tower modules under the language model's path (GIT, IDEFICS: `get_decoder()` is the
    whole model): a plain target name must not reach them (`own_forward.tower_modules`)."""
    return [path for path in tower_modules(model, lm_path) if path.startswith(lm_path + ".")]


def without_towers(model: Any, pattern: str, inside: list[str]) -> str:
    """`pattern` less the modules under the vision towers `inside` the language model, as one regex
    of module names."""
    from deepsynth.models.builtin.decoder import _linear_dims

    kept = [name for name, module in model.named_modules()
            if _linear_dims(module) is not None and re.fullmatch(pattern, name) is not None
            and not any(name.startswith(tower + ".") for tower in inside)]
    return "(" + "|".join(re.escape(name) for name in kept) + ")"


def per_token_keys(encoded: dict[str, Any]) -> list[str]:
    """The processor outputs that hold one entry per token of `input_ids` (other than the ids and
    mask): (1, tokens, ...) tensors, less another sequence's ids and mask (`qformer_input_ids`,
    `qformer_attention_mask`: a second tokenizer's)."""
    length = int(encoded["input_ids"].shape[1])
    keys = []
    for key, value in encoded.items():
        if key in OWN_KEYS or not torch.is_tensor(value) or value.dim() < 2:
            continue
        if key.endswith("input_ids"):
            continue
        if key.endswith("attention_mask") and f"{key[:-len('attention_mask')]}input_ids" in encoded:
            continue
        if value.shape[0] == 1 and value.shape[1] == length:
            keys.append(key)
    return keys


def extend_per_token(opening: torch.Tensor, prompt_length: int, total: int, prompt_value: torch.Tensor | None,
                     target_value: torch.Tensor | None) -> torch.Tensor:
    """(1, total, ...): the processor's per-token tensor for the opening (1, opening, ...), then
    `prompt_value` (what the processor gives a text token after the opening) up to `prompt_length`,
    then `target_value` (what it gives an answer's tokens) over the target; either missing: the
    opening's last value."""
    last = opening[:, -1:]

    def filled(value: torch.Tensor | None, count: int) -> torch.Tensor:
        value = last if value is None else value.reshape(last.shape).to(opening.dtype)
        return value.expand(-1, count, *last.shape[2:])

    return torch.cat([opening, filled(prompt_value, prompt_length - opening.shape[1]),
                      filled(target_value, total - prompt_length)], dim=1)


# -- the vision tower's output, captured and replayed ------------------------------------------

class _LanguageModelReached(Exception):
    """Raised by a hook where the language model starts: the tower outputs are all captured."""


@contextlib.contextmanager
def _hooked(modules: Sequence[nn.Module], hook: Any, pre: bool = False) -> Iterator[None]:
    handles = [(m.register_forward_pre_hook(hook) if pre else m.register_forward_hook(hook)) for m in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _entry_methods(module: nn.Module) -> list[str]:
    return [name for name in ENTRY_METHODS if callable(getattr(type(module), name, None))]


@contextlib.contextmanager
def _wrapped(module: nn.Module, wrap: Any) -> Iterator[None]:
    """Within the block, each entry method of `module` (`ENTRY_METHODS`) is `wrap(name, original)`
    (an instance attribute shadowing the class's method)."""
    names = _entry_methods(module)
    try:
        for name in names:
            setattr(module, name, wrap(name, getattr(module, name)))
        yield
    finally:
        for name in names:
            module.__dict__.pop(name, None)


def capture_tower_outputs(model: nn.Module, lm_path: str, towers: Sequence[str],
                          inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The outputs of every outermost call of the tower modules `towers` (through any of their
    `ENTRY_METHODS`) while `model` reads `inputs`, flat (`flatten_output`), keyed "tower index.call
    index.field path"; the forward stops where the language model starts when the towers are
    outside it."""
    flat: dict[str, torch.Tensor] = {}
    counts = [0 for _ in towers]
    modules = [model.get_submodule(path) for path in towers]

    def recorder(index: int):
        depth = [0]

        def wrap(_name: str, original: Any):
            def record(*args: Any, **kwargs: Any) -> Any:
                depth[0] += 1
                try:
                    output = original(*args, **kwargs)
                finally:
                    depth[0] -= 1
                if depth[0] == 0:
                    # Flattened (copied) now: the model may rewrite the output object's fields afterwards.
                    flatten_output(output, f"{index}.{counts[index]}", flat)
                    counts[index] += 1
                return output
            return record
        return wrap

    lm = model.get_submodule(lm_path)
    outside = not any(path.startswith(lm_path + ".") for path in towers)

    def stop(_module: nn.Module, _args: Any) -> None:
        raise _LanguageModelReached

    with contextlib.ExitStack() as stack:
        for index, module in enumerate(modules):
            stack.enter_context(_wrapped(module, recorder(index)))
        if outside:
            stack.enter_context(_hooked([lm], stop, pre=True))
        try:
            with torch.no_grad():
                model(**inputs, use_cache=False)
        except _LanguageModelReached:
            pass
    return flat


def flatten_output(value: Any, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """A module's output (tensor, ModelOutput, tuple, list, None) as `prefix.path -> tensor`; each
    path segment says the container (`mNN_field`, `tNNN`, `lNNN`) so `unflatten_output` rebuilds it."""
    from transformers.utils import ModelOutput

    if torch.is_tensor(value):
        out[prefix] = value.detach().to("cpu", copy=True).contiguous()
    elif value is None:
        out[f"{prefix}.none"] = torch.zeros(0)
    elif isinstance(value, ModelOutput):
        for number, item in enumerate(dataclasses.fields(value)):
            flatten_output(getattr(value, item.name), f"{prefix}.m{number:02d}_{item.name}", out)
    elif isinstance(value, (tuple, list)):
        if not value:
            out[f"{prefix}.{'t' if isinstance(value, tuple) else 'l'}empty"] = torch.zeros(0)
        for number, item in enumerate(value):
            flatten_output(item, f"{prefix}.{'t' if isinstance(value, tuple) else 'l'}{number:03d}", out)
    else:
        raise DeepSynthError(f"the vision tower returned a {type(value).__name__}, which cannot be cached")


@lru_cache(maxsize=64)
def _output_class(fields: tuple[str, ...]) -> type:
    """A ModelOutput with these fields (attribute and index access as the tower's own output)."""
    from transformers.utils import ModelOutput

    return dataclasses.make_dataclass("CachedTowerOutput", [(name, Any, None) for name in fields],
                                      bases=(ModelOutput,))


def unflatten_output(flat: dict[str, torch.Tensor], device: torch.device | None = None) -> Any:
    """The inverse of `flatten_output` for the keys under one prefix (given with it removed: "" is
    the value itself, ".m00_x..." its parts)."""
    if "" in flat:
        return flat[""].to(device) if device is not None else flat[""]
    if ".none" in flat:
        return None
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in flat.items():
        head, _, rest = key[1:].partition(".")
        groups.setdefault(head, {})["." + rest if rest else ""] = tensor
    heads = sorted(groups)
    kind = heads[0][0]
    if heads[0][1:] == "empty":
        return () if kind == "t" else []
    parts = [unflatten_output(groups[head], device) for head in heads]
    if kind == "m":
        names = tuple(head.split("_", 1)[1] for head in heads)
        return _output_class(names)(**dict(zip(names, parts)))
    return tuple(parts) if kind == "t" else list(parts)


def recorded_calls(flat: dict[str, torch.Tensor], towers: int, device: torch.device) -> list[list[Any]]:
    """Per tower, its recorded outputs in call order, rebuilt from `capture_tower_outputs`' keys."""
    per_call: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
    for key, tensor in flat.items():
        tower, call, *rest = key.split(".", 2)
        per_call.setdefault((int(tower), int(call)), {})["." + rest[0] if rest else ""] = tensor
    calls: list[list[Any]] = [[] for _ in range(towers)]
    for (tower, call) in sorted(per_call):
        calls[tower].append(unflatten_output(per_call[(tower, call)], device))
    return calls


@contextlib.contextmanager
def replayed_towers(model: nn.Module, towers: Sequence[str], flat: dict[str, torch.Tensor] | None,
                    device: torch.device) -> Iterator[None]:
    """Within the block, each tower module returns its recorded outputs in call order (through
    whichever entry method the model calls) instead of running (nothing recorded: the towers run as
    usual). A call past the recorded ones is an error."""
    if not flat:
        yield
        return
    calls = recorded_calls(flat, len(towers), device)
    modules = [model.get_submodule(path) for path in towers]

    def player(path: str, outputs: list[Any]):
        queue = list(outputs)

        def wrap(_name: str, _original: Any):
            def play(*_args: Any, **_kwargs: Any) -> Any:
                if not queue:
                    raise DeepSynthError(f"{path} ran more often than when its features were cached")
                return queue.pop(0)
            return play
        return wrap

    with contextlib.ExitStack() as stack:
        for path, module, outputs in zip(towers, modules, calls):
            stack.enter_context(_wrapped(module, player(path, outputs)))
        yield


def forward_accepts(model: nn.Module, key: str) -> bool:
    parameters = inspect.signature(model.forward).parameters
    return key in parameters
