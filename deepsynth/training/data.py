"""What the worker trains and evaluates on: a dataset split read once by the frozen reader.

`read_split` gives the readings (cached by `deepsynth.models.read_dataset`), or, for the blank-page
control, what the reader makes of blank pages of the same size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deepsynth.configuration import to_dict


@dataclass
class SplitData:
    """One split as the model consumes it."""

    ids: list[str]
    """Document ids, in split order."""
    readings: list[Any]
    """What the frozen reader saw (`PageReading`), one per document."""
    instructions: list[str]
    """What the model is asked, as text: the row's `prompt`, else its rendered `instruction`
    ("" means the model's default instruction)."""
    summaries: list[str]
    """Reference summaries (the training targets)."""


def read_split(model: Any, split: Any, blank_pages: bool, render: Any, description: str,
               progress: bool) -> SplitData:
    from deepsynth.models import read_dataset

    if blank_pages:
        # The reader still runs, on one blank page per page count (readings are a pure
        # function of the pixels): the control sees exactly what a blank page yields.
        from PIL import Image

        width, height = split[0]["image"].size if len(split) else (render.page_width, render.page_height)
        blank = Image.new("L", (width, height), getattr(render, "background_color", 255))
        by_count: dict[int, Any] = {}
        readings = []
        for count in split["num_pages"]:
            if count not in by_count:
                by_count[count] = model.read_documents([[blank] * max(1, count)])[0]
            readings.append(by_count[count])
    else:
        settings = {"render": to_dict(render)} if render is not None else None
        readings = read_dataset(model, split, progress=progress, description=description, settings=settings)
    return SplitData(list(split["id"]), readings, example_prompts(split), list(split["summary"]))


UNREADABLE_DOCUMENTS = "{split}/unreadable_documents"
UNREADABLE_PAGES = "{split}/unreadable_pages"
"""MLflow metrics (formatted with `train` or `eval`): documents with a page the reader recovered
almost nothing from (`PageReading.unreadable_pages`), and those pages."""


@dataclass(frozen=True)
class Unreadable:
    """Documents of a split with pages the frozen reader could not read, and those pages."""

    documents: int
    pages: int
    of: int
    """Documents in the split."""
    ids: tuple[str, ...] = ()

    def metrics(self, split: str) -> dict[str, float]:
        return {UNREADABLE_DOCUMENTS.format(split=split): float(self.documents),
                UNREADABLE_PAGES.format(split=split): float(self.pages)}

    def sentence(self, what: str) -> str:
        shown = ", ".join(self.ids[:5]) + (" ..." if len(self.ids) > 5 else "")
        return (f"{self.documents} of {self.of} {what} document(s) have {self.pages} page(s) the reader recovered "
                f"almost nothing from (mean character confidence under the reader's threshold: another script, "
                f"a page too degraded): {shown}")


def unreadable_of(data: SplitData) -> Unreadable:
    rows = [i for i, reading in enumerate(data.readings) if getattr(reading, "unreadable_pages", 0) > 0]
    pages = sum(data.readings[i].unreadable_pages for i in rows)
    return Unreadable(len(rows), pages, len(data.readings), tuple(data.ids[i] for i in rows))


def without_unreadable(data: SplitData) -> tuple[SplitData, Unreadable]:
    """`data` less the documents with unreadable pages (never trained on), and what was left out.
    Raises `InputError` when nothing readable is left."""
    from deepsynth.errors import InputError

    found = unreadable_of(data)
    if not found.documents:
        return data, found
    if found.documents == len(data.readings):
        raise InputError(f"no training document is readable: {found.sentence('training')}; the embedded reader "
                         "reads English print (choose a VLM model for these pages)")
    keep = [i for i, reading in enumerate(data.readings) if getattr(reading, "unreadable_pages", 0) == 0]
    kept = SplitData([data.ids[i] for i in keep], [data.readings[i] for i in keep],
                     [data.instructions[i] for i in keep], [data.summaries[i] for i in keep])
    return kept, found


def example_prompts(split: Any) -> list[str]:
    """Per row: its `prompt` (a question, a task instruction) when it has one, else the
    `instruction` rendered above its page; datasets without a `prompt` column use the latter."""
    from deepsynth.data.storage import column_or_default

    prompts = column_or_default(split, "prompt", "")
    return [prompt or instruction for prompt, instruction in zip(prompts, split["instruction"])]


def dataset_profile(loaded: Any) -> tuple[str, dict[str, Any]]:
    """(digest, profile) for `RunLogger.log_dataset`: the digest changes with any metadata
    (config, counts, creation time); the profile carries the render settings."""
    import hashlib

    metadata = loaded.metadata
    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True, default=str).encode()).hexdigest()
    profile = {"render": to_dict(loaded.config.render), "source": loaded.config.source,
               "counts": metadata.get("counts"), "created": metadata.get("created")}
    return digest, profile


SHOWN_ROWS = 5
"""Rows named in a "prompt too long" message (then a count of the others)."""


def model_context(model: Any) -> int | None:
    """Tokens the decoder can attend over (`max_position_embeddings` or its older names), or None
    when the model does not say."""
    decoder = getattr(model, "decoder", None)
    if decoder is None:
        return None
    base = decoder.get_base_model() if hasattr(decoder, "get_base_model") else decoder
    config = getattr(base, "config", None)
    if config is None:
        return None
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_prompt_lengths(model: Any, split: Any, split_name: str, dataset: str) -> None:
    """Refuse, before any page is read, examples whose prompt (the row's question or instruction)
    cannot fit the model's context beside the page and the target the settings allow: an
    `InputError` naming the split, each row's id and position, its prompt length and the limit.

    A sequence is the prompt template's fixed text + the prompt + the page (at most
    `max_source_tokens`) + the target (at most `max_target_tokens`, and the end token): the prompt
    may use what the context leaves. Models with a separate instruction encoder, or that do not
    build prompts this way (VLMs through their processor), are not checked here."""
    from deepsynth.errors import InputError

    prompts_of = getattr(model, "prompts", None)
    pieces = getattr(prompts_of, "pieces", None)
    context = model_context(model)
    if pieces is None or context is None or getattr(model, "instruction_encoder", None) is not None or not len(split):
        return
    settings = model.config
    fixed = len(pieces.head) + len(pieces.middle) + len(pieces.tail)
    room = context - fixed - settings.max_source_tokens - settings.max_target_tokens - 1
    limits = (f"the model's context is {context} tokens; with max_source_tokens={settings.max_source_tokens} "
              f"and max_target_tokens={settings.max_target_tokens}")
    if room < 1:
        raise InputError(f"{limits} no room is left for a prompt: lower max_source_tokens or max_target_tokens")
    too_long = []
    for row, (example_id, prompt) in enumerate(zip(split["id"], example_prompts(split))):
        length = len(prompts_of.instruction_ids(prompt))
        if length > room:
            too_long.append(f"row {row + 1} (id {example_id!r}): {length} tokens")
    if too_long:
        shown = "; ".join(too_long[:SHOWN_ROWS]) + (f"; and {len(too_long) - SHOWN_ROWS} more"
                                                     if len(too_long) > SHOWN_ROWS else "")
        raise InputError(
            f"dataset {dataset}, {split_name} split: {len(too_long)} prompt(s) longer than the model allows "
            f"({shown}). {limits[0].upper() + limits[1:]}, a prompt may be at most {room} tokens. Shorten those prompts "
            "(or leave them out of the dataset), or lower max_source_tokens / max_target_tokens.")
