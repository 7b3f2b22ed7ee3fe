"""What a dataset form needs to know before building: the source's columns (to offer as choices),
the splits a build would make (and whether they are too small to be useful), and library messages
reworded for a form (field names instead of command-line flags)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from deepsynth.data.builder import split_sizes
from deepsynth.data.config import DatasetConfig
from deepsynth.data.records import Collected, collect_records, open_source

MIN_TRAIN_DOCS = 8
"""Fewer training documents than this barely move an adapter (one or two optimizer steps)."""
MIN_EVAL_DOCS = 10
"""Fewer held-out documents than this make any score noise (how wide its interval is depends on
the task and the data: the bootstrap interval each evaluation logs says it)."""


def source_columns(config: DatasetConfig) -> list[str]:
    """The columns the source has (for JSON lines: the keys of its first row)."""
    return list(open_source(config).columns)


@dataclass
class FormPreview:
    """The first documents of a source and how many a build of it keeps."""

    collected: Collected
    """The first documents (at most the preview size), with the columns, counts and warnings of
    reading every document the build would read."""
    kept: int | None
    """Documents a build keeps; None when only a build would know (no limit on a hub dataset,
    which would be read whole)."""


def preview_and_count(config: DatasetConfig, preview_size: int) -> FormPreview:
    """The first `preview_size` documents, and the count a build keeps from the rows actually
    there: a local file or bundled corpus is read up to `config.limit` (all of it when 0), so a
    30-row file says 30, not the limit."""
    countable = bool(config.limit) or config.source_kind != "hf"
    collected = collect_records(config, limit=config.limit if countable else preview_size)
    kept = len(collected.records) if countable or len(collected.records) < preview_size else None
    shown = Collected(collected.records[:preview_size], collected.columns, collected.counts, collected.warnings)
    return FormPreview(shown, kept)


def small_split_warnings(sizes: Mapping[str, int], exact: bool = True) -> list[str]:
    """Warnings for splits too small to train on or to evaluate with."""
    about = "" if exact else "about "
    warnings = []
    train = sizes.get("train", 0)
    if train < MIN_TRAIN_DOCS:
        warnings.append(f"{about}{train} training document(s): an adapter learns little from fewer than "
                        f"{MIN_TRAIN_DOCS}. Add documents (or raise “Keep at most”).")
    held_out = {name: sizes.get(name, 0) for name in ("validation", "test") if name in sizes}
    small = {name: n for name, n in held_out.items() if 0 < n < MIN_EVAL_DOCS}  # 0: a fraction set to 0
    if small:
        listed = " and ".join(f"{n} {name}" for name, n in small.items())
        warnings.append(f"{about}{listed} document(s): a score measured on so few is mostly noise (its interval "
                        f"is wide). Use at least {MIN_EVAL_DOCS}, or a larger fraction.")
    return warnings


def planned_splits(documents: int, config: DatasetConfig) -> dict[str, int]:
    """Documents per split for `documents` kept documents (what `build_dataset` assigns)."""
    return split_sizes(documents, config.validation_fraction, config.test_fraction)


_FLAG = re.compile(r"--[a-z][a-z0-9-]*")


def with_field_names(message: str, labels: Mapping[str, str]) -> str:
    """A library message with its command-line flags (`--summary-column`) named as the form's
    fields (“Summary column”); `labels` maps a config field (`summary_column`) to its label.
    Flags the form has no field for are left as they are."""
    by_flag = {"--" + name.replace("_", "-"): label for name, label in labels.items()}
    for flag, label in by_flag.items():  # "name it with --x" is an instruction: say where to do it
        message = message.replace(f"name it with {flag}", f"choose it in the “{label}” field")
    return _FLAG.sub(lambda match: f"the “{by_flag[match.group(0)]}” field" if match.group(0) in by_flag
                     else match.group(0), message)
