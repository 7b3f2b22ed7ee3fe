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
