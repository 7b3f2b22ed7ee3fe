"""What a dataset form needs to know before building: the source's columns (to offer as choices),
the splits a build would make (and whether they are too small to be useful), and library messages
reworded for a form (field names instead of command-line flags)."""

from __future__ import annotations

import re
from typing import Mapping

from deepsynth.data.builder import split_sizes
from deepsynth.data.config import DatasetConfig
from deepsynth.data.records import open_source

MIN_TRAIN_DOCS = 8
"""Fewer training documents than this barely move an adapter (one or two optimizer steps)."""
MIN_EVAL_DOCS = 10
"""Fewer held-out documents than this make ROUGE noise: with ~10-word references a 40-document
mean carries about +-3 points, 100 documents +-2 (deepsynth.evaluation.rouge)."""


def source_columns(config: DatasetConfig) -> list[str]:
    """The columns the source has (for JSON lines: the keys of its first row)."""
    return list(open_source(config).columns)


def expected_documents(previewed: int, preview_size: int, limit: int) -> tuple[int, bool]:
    """(documents a build would keep, exact?) from a preview of up to `preview_size` documents
    (read without the limit): `limit` when the preview already reached it; a shorter preview is
    the whole source; otherwise at most `limit` (the source may hold fewer) or at least the preview."""
    if limit and previewed >= limit:
        return limit, True
    if previewed < preview_size:
        return previewed, True
    return (limit, False) if limit else (previewed, False)


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
        warnings.append(f"{about}{listed} document(s): ROUGE on so few is mostly noise (±3 points at 40 documents, "
                        f"±2 at 100). Use at least {MIN_EVAL_DOCS}, or a larger fraction.")
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
