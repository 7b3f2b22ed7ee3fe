"""What an imported package's `deepsynth_model.json` (its card) may ask for.

A package comes from someone else. Nothing in its card may decide that code runs here, which files
outside the package are read, or that the network is reached; `safe_import.validate_package` runs
`check_card` before a single file is written, and a refused package leaves nothing behind.

- `model_config.trust_remote_code: true` is refused: it would run the Python files of the base
  model's folder (an `auto_map` in its config.json). Inference never takes the flag from a card
  anyway (`Summarizer.for_adapter`): the local user turns it on with `deepsynth infer
  --trust-remote-code`.
- Locations: `model_config.name` (the base model), `model_config.text_encoder`, `render.font` and
  `render.fallback_fonts`. Built-in names pass (models `default`/`tiny`, encoders `none`/`minilm`/
  `tiny`, fonts `DejaVu Sans`/`Noto Sans`). A URL is always refused. A path (absolute, relative,
  `~`) or a hub id (which DeepSynth would download when the hub is reachable) is refused unless the
  local user names that exact value: `deepsynth import --allow-location VALUE`. The card itself is
  never rewritten (the manifest's hash covers it).
- Unknown fields, at the top level, in `model_config` or in `render`, are REFUSED with a message
  naming them, not ignored: a field this DeepSynth does not know may be a setting a later version
  honours, and a package should not carry instructions nobody checked. A sender on a newer
  DeepSynth exports again with the receiver's version, or the receiver upgrades.
Every problem is listed in one `PackageRefused`.

The same card is checked wherever an adapter is LOADED from (`check_loaded_card`: `deepsynth infer`
with a folder, run id or registry version, the playground, which runs `infer`, and `export --merge`),
since a teammate's run on a shared tracking server is someone else's card too. There, paths name
this machine's own folders (checked by `deepsynth.model_folder_check` for remote code and links
out) and the card's `trust_remote_code` is ignored (the local user's flag decides); URLs, unknown
fields and invalid values are refused, and a hub id is read from the local Hugging Face cache only
(`hub_offline`) unless the user adds `--allow-download`.
"""

from __future__ import annotations

import re
from typing import Any, Collection, Mapping

from deepsynth.adapter_format.files import MODEL_CARD
from deepsynth.errors import PackageRefused
from deepsynth.hub_offline import HUB_ID, is_hub_id  # noqa: F401  (is_hub_id: the card check's callers use it)

CARD_FIELDS = frozenset({
    "model_config", "base_model", "reader", "adapter_name", "target_modules", "projection_tensors",
    # extras the training worker adds (deepsynth.training.worker: save_adapter(extra=...))
    "render", "run_id", "preset",
    "dataset",  # the dataset's task, default prompt and page settings (deepsynth.inference.page_input)
})
"""Top-level keys DeepSynth writes into an adapter's card (models.adapters.save_adapter + extras)."""
ALLOW_FLAG = "--allow-location"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|\\\\)")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_HUB_ID = HUB_ID


def location_kind(value: str) -> str:
    """What a card location that is not a built-in name points at, in words."""
    if _URL.match(value):
        return "a URL"
    if value.startswith(("/", "~", "\\")) or _DRIVE.match(value):
        return "an absolute path outside the package"
    if _HUB_ID.match(value) and not value.startswith("."):
        return "a Hugging Face hub id (downloaded when the hub is reachable) or a folder outside the package"
    return "a path relative to the working directory, outside the package"


def _check_location(field: str, value: Any, built_in: Collection[str], allowed: Collection[str],
                    problems: list[str], case_insensitive: bool = False, loading: bool = False) -> None:
    """Add a problem unless `value` is a built-in name or a location the user allowed (when
    `loading`: any path or hub id on this machine; never a URL)."""
    if not isinstance(value, str) or not value:
        problems.append(f"{field}: must be a non-empty string, got {value!r}")
        return
    if (value.strip().lower() if case_insensitive else value) in built_in:
        return
    kind = location_kind(value)
    if kind == "a URL":
        problems.append(f"{field}: {value!r} is a URL; a package never makes DeepSynth download anything")
        return
    if value in allowed or loading:
        return
    problems.append(f"{field}: {value!r} is {kind}; a package does not choose which files DeepSynth "
                    f"reads (if you trust it, import again with {ALLOW_FLAG} {value!r})")


def _unknown(fields: Any, known: Collection[str], where: str, problems: list[str]) -> None:
    extra = sorted(str(key) for key in fields if key not in known)
    if extra:
        problems.append(f"{where}unknown field(s) {', '.join(repr(k) for k in extra)} (this DeepSynth "
                        "does not know what they do)")


def card_problems(card: Any, allowed_locations: Collection[str] = (), loading: bool = False) -> list[str]:
    """Every reason to refuse a card (empty list: the card may be imported). `loading`: the rules
    for an adapter loaded where it is (see the module docstring), not imported."""
    import dataclasses

    from deepsynth.configuration import ConfigError, from_dict
    from deepsynth.models.config import BUILT_IN_MODELS, TEXT_ENCODERS, ModelConfig
    from deepsynth.render import RenderConfig
    from deepsynth.render.fonts import NAMED_FONTS

    if not isinstance(card, Mapping):
        return [f"must be a JSON object, got {type(card).__name__}"]
    problems: list[str] = []
    allowed = set(allowed_locations)
    _unknown(card, CARD_FIELDS, "", problems)
    model = card.get("model_config")
    if not isinstance(model, Mapping):
        problems.append("model_config: missing or not an object")
    else:
        before = len(problems)
        _unknown(model, {f.name for f in dataclasses.fields(ModelConfig)}, "model_config: ", problems)
        if not loading and model.get("trust_remote_code") is not False and "trust_remote_code" in model:
            problems.append(f"model_config.trust_remote_code: {model['trust_remote_code']!r} would run the Python "
                            "code of the base model's folder; a package never turns it on (only you do, with "
                            "`deepsynth infer --trust-remote-code`)")
        _check_location("model_config.name", model.get("name", "default"), BUILT_IN_MODELS, allowed, problems,
                        loading=loading)
        _check_location("model_config.text_encoder", model.get("text_encoder", "none"), TEXT_ENCODERS,
                        allowed, problems, loading=loading)
        if len(problems) == before:  # the config's own checks, once it asks for nothing refused
            try:
                from_dict(ModelConfig, {**model, "trust_remote_code": False})
            except (ConfigError, TypeError) as error:
                problems.append(f"model_config: {error}")
    if card.get("dataset") is not None and not isinstance(card.get("dataset"), Mapping):
        problems.append("dataset: not an object")  # its known keys are read with their types checked
    render = card.get("render")
    if render is not None and not isinstance(render, Mapping):
        problems.append("render: not an object")
    elif render is not None:
        before = len(problems)
        _unknown(render, {f.name for f in dataclasses.fields(RenderConfig)}, "render: ", problems)
        _check_location("render.font", render.get("font", RenderConfig.font), NAMED_FONTS, allowed,
                        problems, case_insensitive=True, loading=loading)
        fallbacks = render.get("fallback_fonts", ())
        if not isinstance(fallbacks, (list, tuple)):
            problems.append(f"render.fallback_fonts: must be a list of font files, got {fallbacks!r}")
        for index, font in enumerate(fallbacks if isinstance(fallbacks, (list, tuple)) else ()):
            _check_location(f"render.fallback_fonts[{index}]", font, (), allowed, problems, loading=loading)
        if len(problems) == before:
            try:
                from_dict(RenderConfig, dict(render))
            except (ConfigError, TypeError) as error:
                problems.append(f"render: {error}")
    return problems


def check_card(card: Any, allowed_locations: Collection[str] = ()) -> None:
    """Refuse (`PackageRefused`, listing every problem) a card that asks for what a package may not
    decide; see the module docstring."""
    problems = card_problems(card, allowed_locations)
    if problems:
        raise PackageRefused(f"{MODEL_CARD} asks for what a package may not decide:\n"
                             + "\n".join(f"  - {problem}" for problem in problems))


def check_loaded_card(card: Any, where: str) -> None:
    """Refuse (`InputError`, every problem) the card of an adapter about to be loaded where it is:
    the rules of `card_problems(loading=True)`; `where` names the adapter folder."""
    from deepsynth.errors import InputError

    problems = card_problems(card, loading=True)
    if problems:
        raise InputError(f"{where}/{MODEL_CARD} asks for what an adapter may not decide:\n"
                         + "\n".join(f"  - {problem}" for problem in problems))
