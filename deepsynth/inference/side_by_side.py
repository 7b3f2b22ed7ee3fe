"""Adapters that need different bases, side by side: one base loaded per distinct setting.

An adapter fits only the base (model settings, base weights, page reader) it was trained on
(`summarizer._same_base`). `plan_side_by_side` reads each adapter's card, groups the adapters by
that setting (in the order given), and estimates each base's memory (`base_memory_bytes`, the
estimator's parameter count at 4 bytes each). When the bases fit in the memory available together,
they all load first; when the estimate says they do not, they load one at a time, each freed
before the next, and `SideBySide.note` says so in one sentence before anything loads.
`compare_side_by_side` then yields each model's output, the base's first (the first group's base).
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

FLOAT32_BYTES = 4
"""Inference here keeps the base in float32 (CPU) -- the estimate's bytes per parameter."""
TINY_BASE_PARAMETERS = 123_648
"""The `tiny` test model's parameters (counted once with `sum(p.numel())`; the estimator has no
architecture for it)."""


@dataclass(frozen=True)
class AdapterSource:
    """One adapter as the user named it, resolved to a local folder."""

    label: str
    source: str
    folder: Path
    card: Mapping[str, Any] = field(repr=False)


@dataclass
class BaseGroup:
    """Adapters that fit one base."""

    adapters: list[AdapterSource]
    memory_bytes: int | None
    """The base's estimated memory; None when it cannot be estimated."""

    @property
    def model_config(self) -> Mapping[str, Any]:
        return self.adapters[0].card.get("model_config", {})


@dataclass(frozen=True)
class SideBySide:
    """The bases a set of adapters needs and whether they load together."""

    groups: tuple[BaseGroup, ...]
    one_at_a_time: bool
    """True when the estimate says the bases do not fit in memory together."""
    note: str
    """One sentence when `one_at_a_time` (why), else ""."""
    bases: str
    """One sentence naming what differs between the bases, when there are several, else ""."""

    @property
    def labels(self) -> list[str]:
        return [adapter.label for group in self.groups for adapter in group.adapters]


def gigabytes(count: int) -> str:
    return f"{count / 1e9:.1f} GB"


def _without_trust(model_config: Any) -> dict[str, Any]:
    return {key: value for key, value in dict(model_config or {}).items() if key != "trust_remote_code"}


def base_key(card: Mapping[str, Any]) -> str:
    """What decides the base an adapter needs: its model settings, base weights and page reader."""
    return json.dumps({"model_config": _without_trust(card.get("model_config")),
                       "base_model": card.get("base_model"), "reader": card.get("reader")},
                      sort_keys=True, default=str)


def _words(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def setting_differences(first: Mapping[str, Any], other: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(setting in words, first card's value, other's) for each setting two adapter cards' bases
    differ in: ("max source tokens", "128", "192")."""
    found = []
    for part, prefix in (("model_config", ""), ("base_model", "base model "), ("reader", "page reader ")):
        a = first.get(part) or {}
        b = other.get(part) or {}
        if part == "model_config":
            a, b = _without_trust(a), _without_trust(b)
        if not isinstance(a, Mapping) or not isinstance(b, Mapping):
            if a != b:
                found.append((prefix.strip() or part, _words(a), _words(b)))
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                found.append((f"{prefix}{key.replace('_', ' ')}", _words(a.get(key, "unset")),
                              _words(b.get(key, "unset"))))
    return found


def differences(first: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """`setting_differences` as `max source tokens 128 vs 192`."""
    return [f"{name} {a} vs {b}" for name, a, b in setting_differences(first, other)]


def base_memory_bytes(model_config: Mapping[str, Any]) -> int | None:
    """A base's memory for inference: the estimator's parameter count (decoder and reader) at
    float32; None when the estimator cannot read the model."""
    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.params import count_parameters
    from deepsynth.lora import LoraSettings

    name = str(model_config.get("name") or "default")
    if name == "tiny":
        return TINY_BASE_PARAMETERS * FLOAT32_BYTES
    try:
        architecture = load_architecture(name, str(model_config.get("vision_interface") or "ocr_text"))
        return count_parameters(architecture, LoraSettings()).base * FLOAT32_BYTES
    except Exception:  # noqa: BLE001 -- an estimate is advice: a model it cannot read is "unknown"
        return None


def available_memory_bytes() -> int | None:
    """Memory the system can give without swapping (`MemAvailable`, Linux); None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def plan_side_by_side(sources: Sequence[str], uri: str | None = None,
                      available_bytes: int | None = None, labels: Sequence[str] | None = None) -> SideBySide:
    """Group `sources` (folders, run ids, models:/ references) by the base each needs; decide
    whether the bases load together (`available_bytes`: memory available, default this
    machine's). Cards are read and checked; no model loads."""
    from deepsynth.adapter_format.files import read_model_card
    from deepsynth.export.card_check import check_loaded_card
    from deepsynth.inference.summarizer import resolve_adapter

    groups: dict[str, BaseGroup] = {}
    for index, source in enumerate(sources):
        folder = resolve_adapter(source, uri)
        card = read_model_card(folder)
        check_loaded_card(card, str(folder))
        label = labels[index] if labels is not None else str(source)
        adapter = AdapterSource(label, str(source), folder, card)
        key = base_key(card)
        if key in groups:
            groups[key].adapters.append(adapter)
        else:
            groups[key] = BaseGroup([adapter], base_memory_bytes(card.get("model_config") or {}))
    ordered = tuple(groups.values())
    bases = ""
    if len(ordered) > 1:
        first = ordered[0].adapters[0]
        parts = [f"{group.adapters[0].label} needs " + ", ".join(
                     f"{name} {theirs} ({first.label}: {ours})"
                     for name, ours, theirs in setting_differences(first.card, group.adapters[0].card))
                 for group in ordered[1:]]
        bases = f"{len(ordered)} bases, one per distinct setting: " + "; ".join(parts)
    available = available_memory_bytes() if available_bytes is None else available_bytes
    one_at_a_time, note = False, ""
    if len(ordered) > 1:
        sizes = [group.memory_bytes for group in ordered]
        if None in sizes:
            one_at_a_time = True
            note = (f"The {len(ordered)} bases these adapters need load one at a time, each freed before the "
                    "next, because the memory of one of them cannot be estimated.")
        elif available is not None and sum(sizes) > available:
            one_at_a_time = True
            note = (f"The {len(ordered)} bases these adapters need take about {gigabytes(sum(sizes))} "
                    f"together, more than the {gigabytes(available)} of memory available, so they load "
                    "one at a time, each freed before the next (slower, same answers).")
    return SideBySide(ordered, one_at_a_time, note, bases)


def compare_side_by_side(plan: SideBySide, *, text: str | None = None, image: Any = None, file: Any = None,
                         include_base: bool = True, prompt: str = "", max_new_tokens: int | None = None,
                         device: str = "cpu", trust_remote_code: bool = False, allow_download: bool = False,
                         uri: str | None = None,
                         on_loaded: Callable[[float], None] | None = None) -> Iterator[tuple[str, str]]:
    """Each model's output on one input, (label, output) as each is ready: the base (the first
    group's) first, then the adapters in the order given. `on_loaded(seconds)` is called once the
    models load (together), or once per base (one at a time)."""
    import time

    from deepsynth.inference.summarizer import Summarizer

    def load(group: BaseGroup) -> Any:
        first, *others = group.adapters
        summarizer = Summarizer.for_adapter(first.folder, device=device, uri=uri, label=first.label,
                                            trust_remote_code=trust_remote_code, allow_download=allow_download)
        for adapter in others:
            summarizer.add_adapter(adapter.folder, label=adapter.label)
        return summarizer

    def outputs(summarizer: Any, group: BaseGroup, with_base: bool) -> Iterator[tuple[str, str]]:
        yield from summarizer.compare_each(text=text, image=image, file=file,
                                           adapters=[adapter.label for adapter in group.adapters],
                                           include_base=with_base, instruction=prompt,
                                           max_new_tokens=max_new_tokens)

    def loaded(started: float) -> None:
        if on_loaded is not None:
            on_loaded(time.perf_counter() - started)

    if not plan.one_at_a_time:  # every base first: a failure to load shows before any output
        started = time.perf_counter()
        summarizers = [load(group) for group in plan.groups]
        loaded(started)
        for index, (summarizer, group) in enumerate(zip(summarizers, plan.groups)):
            yield from outputs(summarizer, group, include_base and index == 0)
        return
    for index, group in enumerate(plan.groups):
        started = time.perf_counter()
        summarizer = load(group)
        loaded(started)
        try:
            yield from outputs(summarizer, group, include_base and index == 0)
        finally:
            del summarizer
            gc.collect()


def hub_bases(sources: Sequence[str], uri: str | None = None) -> list[str]:
    """The hub ids (`ORG/NAME@COMMIT` as the cards pin them) that the adapters `sources` name as
    their base, in order, each once: what a client checks against the Hugging Face cache before
    `deepsynth infer` loads them (the playground downloads them first when its admin allows it).
    Nothing loads and nothing is requested; a source that cannot be read is left to `infer`, which
    names it."""
    from deepsynth.adapter_format.files import read_model_card
    from deepsynth.errors import DeepSynthError
    from deepsynth.hub_offline import is_hub_id
    from deepsynth.inference.summarizer import resolve_adapter

    names: list[str] = []
    for source in sources:
        try:
            card = read_model_card(resolve_adapter(source, uri))
        except (DeepSynthError, OSError, ValueError):
            continue  # `infer` refuses it in its own words
        model_config = card.get("model_config") if isinstance(card, Mapping) else None
        name = str(model_config.get("name") or "") if isinstance(model_config, Mapping) else ""
        if is_hub_id(name) and name not in names:
            names.append(name)
    return names
