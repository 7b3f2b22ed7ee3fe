"""Summarizing with one base model and several adapters (the CLI's `infer` and the playground).

The base loads once; each adapter is added next to the others with PEFT's multi-adapter support
and chosen per call with `set_adapter`, so comparing adapters side by side on the same page costs
one reading of the page and no reload. The base's own output is available too (`BASE`).

Adapters are named by where they come from: an adapter folder, a run id (its `adapter/` artifact)
or a registry reference `models:/NAME@ALIAS` / `models:/NAME/VERSION` (plain files through
`deepsynth.tracking.registry.download_adapter`, loaded by PEFT from safetensors). An adapter is
checked before loading: safetensors headers and shapes against this base, and its
`deepsynth_model.json` must name the same base model and reader.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from deepsynth.adapter_format.files import (
    check_adapter_folder, has_adapter, read_adapter_config, read_model_card)
from deepsynth.errors import InputError

from deepsynth.inference import BASE
"""Label of the untouched base model in `summarize(adapter=BASE)` and in `compare` results."""


@dataclass(frozen=True)
class LoadedAdapter:
    """An adapter held by a `Summarizer`."""

    label: str
    """The name callers use (the source, or the name given)."""
    source: str
    """Where it came from: folder, run id or models:/ reference."""
    folder: Path
    """The local adapter folder it was loaded from."""
    internal_name: str
    """PEFT adapter name inside the model."""
    card: Mapping[str, Any]
    """Its deepsynth_model.json."""


def _run_adapter_folder(run_id: str, uri: str | None) -> Path:
    """A run's `adapter/` artifact, downloaded once into the cache (keyed by store and run)."""
    from deepsynth import paths
    from deepsynth.names import check_run_id
    from deepsynth.tracking.store import resolve_tracking_uri

    check_run_id(run_id)
    store = hashlib.sha256(resolve_tracking_uri(uri).encode()).hexdigest()[:12]
    target = paths.cache_dir() / "run-adapters" / store / run_id
    if has_adapter(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.downloading-", dir=target.parent))
    try:
        from deepsynth.export.run_source import fetch_run

        folder, _ = fetch_run(run_id, staging, uri)
        if target.exists():
            shutil.rmtree(target)
        Path(folder).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_adapter(source: str | Path, uri: str | None = None) -> Path:
    """A local adapter folder for a folder path, a run id or a `models:/` reference."""
    text = str(source)
    if text.startswith("models:/"):
        from deepsynth.tracking.registry import download_adapter

        return download_adapter(text, uri=uri)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise InputError(f"{path}: an adapter is a folder (adapter_model.safetensors, adapter_config.json, ...)")
    if "/" in text or "\\" in text or text.startswith("."):
        raise InputError(f"{text}: no such adapter folder")
    from deepsynth.tracking.run_lookup import resolve_run_id

    return _run_adapter_folder(resolve_run_id(text, uri), uri)  # a run id, a unique id prefix or a run name


def _same_base(card: Mapping[str, Any], model_config: Mapping[str, Any], base: Mapping[str, Any],
               reader: Mapping[str, Any], where: str) -> None:
    """An adapter only fits the base (and reader) it was trained on: refuse any other, naming the
    settings that differ in words (`side_by_side` loads a base per distinct setting)."""
    from deepsynth.inference.side_by_side import setting_differences

    loaded = {"model_config": dict(model_config), "base_model": dict(base), "reader": dict(reader)}
    wanted = {"model_config": card.get("model_config", {}), "base_model": card.get("base_model", {}),
              "reader": card.get("reader") if card.get("reader") is not None else dict(reader)}
    problems = [f"{name} {needed} (the loaded base has {has})"
                for name, needed, has in setting_differences(wanted, loaded)]
    if problems:
        raise InputError(f"{where}: the adapter needs a base of its own: " + "; ".join(problems)
                         + " (deepsynth infer and the Playground load one per distinct setting)")


def _without_trust(model_config: Any) -> dict[str, Any]:
    """A model config as compared between adapters: `trust_remote_code` is the local user's choice
    (`Summarizer.for_adapter`), not a property of the base an adapter fits."""
    return {key: value for key, value in dict(model_config or {}).items() if key != "trust_remote_code"}


class Summarizer:
    """A document model with several adapters; `summarize` one input with any of them or the base."""

    def __init__(self, model_config: Any, device: str = "cpu", render_config: Any = None,
                 max_new_tokens: int | None = None) -> None:
        from deepsynth.lora import LoraSettings
        from deepsynth.models import build_document_model
        from deepsynth.render import RenderConfig

        # The fresh "default" adapter build_document_model attaches stays unused (LoRA B = 0).
        self.model = build_document_model(model_config, LoraSettings(rank=1, dropout=0.0), device)
        self.model.eval()
        self.model_config = model_config
        self.render_config = render_config or RenderConfig()
        self.max_new_tokens = max_new_tokens
        self.adapters: dict[str, LoadedAdapter] = {}

    @classmethod
    def for_adapter(cls, source: str | Path, device: str = "cpu", uri: str | None = None,
                    label: str | None = None, trust_remote_code: bool = False, allow_download: bool = False,
                    **kwargs: Any) -> "Summarizer":
        """A summarizer on the base `source`'s adapter was trained on, with that adapter loaded.

        `trust_remote_code` (run the base folder's own Python code) comes from the local user only
        (`deepsynth infer --trust-remote-code`): the card's value is ignored, so an adapter folder,
        run or registry version made by someone else never decides that code runs here. The card is
        checked first (`card_check.check_loaded_card`), then the model folders it names
        (`model_folder_check`); a base named by a hub id loads from the local Hugging Face cache
        only, unless `allow_download` (`deepsynth infer --allow-download`)."""
        from deepsynth.configuration import from_dict
        from deepsynth.export.card_check import check_loaded_card
        from deepsynth.hub_offline import base_loading
        from deepsynth.models.config import ModelConfig

        folder = resolve_adapter(source, uri)
        card = read_model_card(folder)
        check_loaded_card(card, str(folder))
        model_config = from_dict(ModelConfig, {**dict(card.get("model_config", {})),
                                               "trust_remote_code": bool(trust_remote_code)})
        with base_loading(model_config, str(folder), allow_download):  # deepsynth.hub_offline
            summarizer = cls(model_config, device=device, **kwargs)
        summarizer.add_adapter(folder, label=label or str(source))
        return summarizer

    # -- adapters ---------------------------------------------------------------------------------
    def add_adapter(self, source: str | Path, label: str | None = None, uri: str | None = None) -> str:
        """Load an adapter next to the others (no reload of the base); returns its label."""
        from deepsynth.configuration import to_dict
        from deepsynth.export.base_shapes import oracle_for_model
        from deepsynth.export.card_check import check_loaded_card
        from deepsynth.export.safe_import import ImportLimits, layer_replication_problem
        from deepsynth.adapter_format.safetensors_check import check_shapes, read_header

        label = label or str(source)
        if label == BASE or label in self.adapters:
            raise InputError(f"an adapter labelled {label!r} is already loaded" if label != BASE
                             else f"{BASE!r} names the base model; choose another label")
        folder = resolve_adapter(source, uri)
        card = read_model_card(folder)
        check_loaded_card(card, str(folder))
        _same_base(card, to_dict(self.model_config), self.model.identity, self.model.reader.identity(), str(folder))
        oracle = oracle_for_model(self.model)
        adapter_config = read_adapter_config(folder)
        replication = layer_replication_problem(adapter_config, ImportLimits().max_replicated_layers)
        if replication is not None:
            raise InputError(f"{folder}/{replication}")
        for weights in check_adapter_folder(folder):
            header = read_header(weights)
            check_shapes(header, oracle(weights.name, header, adapter_config), str(weights))
        internal = f"adapter_{len(self.adapters) + 1}"
        self.model.load_adapter(folder, internal)
        self.adapters[label] = LoadedAdapter(label, str(source), folder, internal, card)
        return label

    def render_config_for(self, adapter: str) -> Any:
        """The render settings an adapter was trained with (its card), else this summarizer's."""
        from deepsynth.configuration import from_dict
        from deepsynth.render import RenderConfig

        loaded = self.adapters.get(adapter)
        stored = loaded.card.get("render") if loaded is not None else None  # training's extra
        return from_dict(RenderConfig, dict(stored)) if isinstance(stored, Mapping) else self.render_config

    # -- summarizing ------------------------------------------------------------------------------
    def task_for(self, adapter: str) -> Any:
        """What `adapter` was trained to do (`page_input.AdapterTask`); the base answers as the first
        adapter loaded would be asked."""
        from deepsynth.inference.page_input import AdapterTask, adapter_task

        loaded = self.adapters.get(adapter)
        if loaded is None and self.adapters:
            loaded = next(iter(self.adapters.values()))
        return adapter_task(loaded.card) if loaded is not None else AdapterTask()

    def pages_for(self, text: str | None = None, image: Any = None, adapter: str = BASE,
                  file: Any = None) -> list[Any]:
        """The page images a summary reads: `text` rendered with the adapter's settings, `file` (a
        PDF or image path, read with the page settings of the adapter's dataset: DPI, page cap,
        colour) or `image` (a path or PIL image; converted to 8-bit gray like rendered pages)."""
        if sum(given is not None for given in (text, image, file)) != 1:
            raise InputError("give exactly one of text, a page file or image")
        if file is not None:
            from deepsynth.inference.page_input import read_page_file

            return list(read_page_file(file, self.task_for(adapter).pages).images)
        if text is not None:
            from deepsynth.render import render_document

            if not text.strip():
                raise InputError("the text to summarize is empty")
            return list(render_document(text, self.render_config_for(adapter)).pages)
        from PIL import Image

        if isinstance(image, (str, Path)):
            try:
                with Image.open(image) as opened:
                    _check_pixels(opened.size, str(image))  # from the header, before decoding
                    return [opened.convert("L")]
            except (OSError, Image.DecompressionBombError) as error:
                raise InputError(f"{image}: cannot read the image: {error}") from None
        _check_pixels(image.size, "the image")
        return [image.convert("L")]

    def summarize(self, text: str | None = None, image: Any = None, adapter: str | None = None,
                  instruction: str = "", max_new_tokens: int | None = None, file: Any = None) -> str:
        """The output on one document (text, page file or page image) of `adapter` (a label given
        to `add_adapter`; None = the only one loaded; `BASE` = the base model without adapters).
        `instruction` is the prompt given as text; empty: the adapter's task default."""
        name = self._choose(adapter)
        reading = self.model.read_pages(self.pages_for(text, image, name, file))
        return self._generate(reading, name, self.task_for(name).prompt_for(instruction), max_new_tokens)

    def compare(self, text: str | None = None, image: Any = None, adapters: list[str] | None = None,
                include_base: bool = True, instruction: str = "",
                max_new_tokens: int | None = None, file: Any = None) -> dict[str, str]:
        """Outputs on the same input by several adapters (and the base), side by side. Pages are
        read once per distinct render or page-file setting (an image is read once)."""
        return dict(self.compare_each(text, image, adapters, include_base, instruction, max_new_tokens, file))

    def compare_each(self, text: str | None = None, image: Any = None, adapters: list[str] | None = None,
                     include_base: bool = True, instruction: str = "",
                     max_new_tokens: int | None = None, file: Any = None) -> Iterator[tuple[str, str]]:
        """`compare`, one (label, summary) at a time as each is ready (for progress per model)."""
        names = list(adapters) if adapters is not None else list(self.adapters)
        if include_base and BASE not in names:
            names.insert(0, BASE)
        readings: dict[str, Any] = {}
        for name in names:
            name = self._choose(name)
            if text is not None:
                key = repr(self.render_config_for(name))
            else:
                key = repr(self.task_for(name).pages) if file is not None else "image"
            if key not in readings:
                readings[key] = self.model.read_pages(self.pages_for(text, image, name, file))
            yield name, self._generate(readings[key], name, self.task_for(name).prompt_for(instruction),
                                       max_new_tokens)

    def _choose(self, adapter: str | None) -> str:
        if adapter is None:
            if len(self.adapters) != 1:
                raise InputError(f"name the adapter to use: loaded {sorted(self.adapters) or 'none'} (or {BASE!r})")
            return next(iter(self.adapters))
        if adapter != BASE and adapter not in self.adapters:
            raise InputError(f"no adapter labelled {adapter!r}; loaded: {sorted(self.adapters)} (or {BASE!r})")
        return adapter

    def _generate(self, reading: Any, name: str, instruction: str, max_new_tokens: int | None) -> str:
        batch = self.model.collate([reading], [instruction])
        tokens = max_new_tokens or self.max_new_tokens
        if name == BASE:
            with self.model.disable_adapter():
                return self.model.generate(batch, max_new_tokens=tokens)[0]
        self.model.set_adapter(self.adapters[name].internal_name)
        return self.model.generate(batch, max_new_tokens=tokens)[0]


def _check_pixels(size: tuple[int, int], where: str) -> None:
    """Refuse a page over Pillow's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`, 89.5 M
    pixels by default). Pillow itself only warns between 1x and 2x the limit and would decode it
    (an RGB page of 179 M pixels is 537 MB); a rendered page is 1024x1448 = 1.5 M pixels."""
    from PIL import Image

    width, height = size
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise InputError(f"{where}: the image is {width}x{height} = {width * height:,} pixels, over the "
                         f"{limit:,}-pixel limit (a possible decompression bomb); scale the page down "
                         "(DeepSynth renders pages of 1024x1448)")
